/**
 * The composition of the instrument-master feature for the service: loads the master (waited for
 * at start only when INSTRUMENTS uses names; otherwise in the background, so neither the symbol
 * tag nor the chains delay start-up), resolves names, and builds the `chains` actor's logic with
 * its I/O provided. /state and /ready read `status()` and `chainsState()`.
 */
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type AnyActorRef, fromPromise } from 'xstate';
import { type ChainChange, type ChainExpired, chainMachine } from '../../machines/chain.js';
import { type ChainsInput, type MasterReport, chainsMachine } from '../../machines/chains.js';
import type { Config, FeedMode } from '../config.js';
import { ConfigError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { msUntilIst } from '../../machines/rules/market-time.js';
import type { RefusedKey } from '../../machines/rules/subscriptions.js';
import { ChainSubscriptions, chainMasterActors } from './chain-actors.js';
import { istDate } from '../../machines/rules/option-chain.js';
import { MasterStore, type MasterStatus } from './master-store.js';
import { isInstrumentName, resolveAll, resolveInstrument } from './names.js';
import { LastPrices, type Timers } from './price-watch.js';

export interface ChainState {
  underlying: string;
  state: string;
  ltp: number | null;
  atm: number | null;
  /** YYYY-MM-DD (IST) of the expiry followed, null before the first plan. */
  expiry: string | null;
  /** The underlying and the options the chain keeps subscribed. */
  keys: string[];
  lastError: { code: string; message: string } | null;
}

export interface InstrumentsOptions {
  config: Config;
  logger: Logger;
  timers?: Timers;
  /** How often a chain samples its underlying's price. */
  priceIntervalMs?: number;
  /** How long start-up waits for the master when nothing needs it to start (default 5 s). */
  startWaitMs?: number;
}

export class Instruments {
  readonly store: MasterStore;
  readonly prices = new LastPrices();
  /** INSTRUMENTS with names resolved to keys (undefined when INSTRUMENTS is not set). */
  instruments: string[] | undefined;
  private started: Promise<{ needsRefresh: boolean }> | undefined;
  private readonly swapListeners: Array<() => void> = [];
  private readonly log: Logger;

  constructor(private readonly opts: InstrumentsOptions) {
    const { config } = opts;
    this.log = opts.logger.child({ component: 'master' });
    const spool = config.spool.path;
    this.store = new MasterStore({
      url: config.master.url,
      dir: spool === ':memory:' ? join(tmpdir(), 'tickpipe-master') : dirname(spool),
      downloadTimeoutMs: config.master.downloadTimeoutMs,
      ...(opts.timers ? { now: opts.timers.now } : {}),
      log: this.log,
    });
    this.instruments = config.upstox.instruments ? [...config.upstox.instruments] : undefined;
  }

  /** True when names or chains depend on the master (/ready says so while there is none). */
  get needed(): boolean {
    return (this.opts.config.upstox.instruments ?? []).some(isInstrumentName) || this.opts.config.chains.specs.length > 0;
  }

  /**
   * Loads the master: awaited when names or chains need it (a cached copy makes that quick),
   * in the background otherwise. Names in INSTRUMENTS that do not resolve are a ConfigError.
   */
  async start(): Promise<void> {
    this.started = this.store.start().finally(() => this.emitSwap());
    // Only names in INSTRUMENTS hold the start without a bound (the first subscription needs their
    // keys). Otherwise the start waits a few seconds at most, so that in the usual case (a cached
    // copy, or a quick download) the first points already carry the `symbol` tag: a series that
    // gained the tag a moment after start would be two series, and backfilled candles (always
    // tagged) would not continue the live ones. The chains actor waits for the master itself.
    if (!(this.opts.config.upstox.instruments ?? []).some(isInstrumentName)) {
      await Promise.race([this.started, new Promise((resolve) => setTimeout(resolve, this.opts.startWaitMs ?? 5000).unref())]);
      return;
    }
    await this.started;
    const entries = this.opts.config.upstox.instruments;
    if (!entries) return;
    const names = entries.filter(isInstrumentName);
    if (names.length > 0 && !this.store.current) {
      throw new ConfigError([
        `INSTRUMENTS uses names (${names.slice(0, 3).join(', ')}) but the instrument master could not be loaded: ${
          this.store.status().lastError?.message ?? 'unknown error'
        }; fix INSTRUMENT_MASTER_URL or use instrument keys (SEGMENT|id)`,
      ]);
    }
    const { keys, problems } = resolveAll(this.store.current, entries);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `INSTRUMENTS: ${p}`));
    this.instruments = keys;
  }

  /** Called after every swap of the index (line-protocol prefixes must be rebuilt with the new symbols). */
  onSwap(fn: () => void): void {
    this.swapListeners.push(fn);
  }

  private emitSwap(): void {
    for (const fn of this.swapListeners) fn();
  }

  symbolOf(key: string): string | undefined {
    return this.store.current?.symbolOf(key);
  }

  /** Run-time resolution (/ticks, POST /subscriptions): keys, and a refusal per bad name. */
  resolve(entries: readonly string[]): { keys: string[]; refused: RefusedKey[] } {
    const keys: string[] = [];
    const refused: RefusedKey[] = [];
    for (const e of entries) {
      const r = resolveInstrument(this.store.current, e);
      if (r.ok) keys.push(r.key);
      else refused.push({ key: e, reason: r.reason });
    }
    return { keys, refused };
  }

  /**
   * Resolution of a list fetched at run time (INSTRUMENTS_URL): waits for the master's first load
   * when the list holds names (start-up waits only a few seconds for it), then resolves like
   * `resolve`. Without any master, each name is refused and says so.
   */
  async resolveLoaded(entries: readonly string[]): Promise<{ keys: string[]; refused: RefusedKey[] }> {
    if (entries.some(isInstrumentName)) await this.started?.catch(() => undefined);
    return this.resolve(entries);
  }

  status(): MasterStatus {
    return this.store.status();
  }

  private report(): MasterReport {
    const { url: _url, ...status } = this.store.status();
    return { ...status, at: (this.opts.timers?.now ?? Date.now)() };
  }

  chainsInput(): ChainsInput {
    const { config } = this.opts;
    return {
      chains: config.chains.specs.map((spec) => ({ spec, mode: config.chains.mode, underlyingMode: config.upstox.feedMode })),
      retryMs: 10 * 60_000,
    };
  }

  /** The `chains` actor with its I/O: the master, the live subscription (`get`/`set`), prices, logs. */
  chainsLogic(subscription: { get: () => Readonly<Record<string, FeedMode>>; set: (next: Record<string, FeedMode>) => void }) {
    const { config } = this.opts;
    const log = this.opts.logger.child({ actor: 'chains' });
    const subs = new ChainSubscriptions(config.upstox.limits, config.upstox.feedMode);
    const now = this.opts.timers?.now ?? Date.now;
    return chainsMachine.provide({
      actors: {
        loadMaster: fromPromise<MasterReport>(async () => {
          const { needsRefresh } = await (this.started ?? this.store.start());
          // Started on an older copy: try today's now (a failure keeps the old one and says so).
          if (needsRefresh)
            await this.store.refresh().then(
              () => this.emitSwap(),
              () => undefined,
            );
          return this.report();
        }),
        refreshMaster: fromPromise<MasterReport>(async () => {
          await this.store.refresh().then(
            () => this.emitSwap(),
            () => undefined,
          );
          return this.report();
        }),
        chain: chainMachine.provide({
          actors: {
            ...chainMasterActors(() => this.store.current),
            applySubscription: subs.actor(subscription.get, subscription.set),
            watchPrice: this.prices.actor(this.opts.priceIntervalMs ?? 1000, this.opts.timers),
          },
          actions: {
            logChange: (_, c: ChainChange) =>
              log.info(
                {
                  chain: c.chain,
                  ltp: c.ltp,
                  from: c.from && { atm: c.from.atm, expiry: istDate(c.from.expiry) },
                  to: { atm: c.to.atm, expiry: istDate(c.to.expiry) },
                },
                `chain ${c.chain} ${c.kind}: ${c.from ? `${c.from.atm} (${istDate(c.from.expiry)}) -> ` : ''}${c.to.atm} (${istDate(c.to.expiry)})`,
              ),
            logExpired: (_, e: ChainExpired) =>
              log.info(
                { chain: e.chain, expiry: e.expiry, unsubscribed: e.removed },
                `chain ${e.chain}: its ${e.expiry} expiry has passed; unsubscribed ${e.removed.length} keys it had added${
                  e.removed.length > 0 ? ` (${e.removed.slice(0, 4).join(', ')}${e.removed.length > 4 ? ', ...' : ''})` : ''
                }`,
              ),
            alert: (_, p: { message: string }) => log.error(p.message),
          },
        }),
      },
      actions: { alert: (_, p: { message: string }) => log.warn(p.message) },
      delays: { refreshDelay: () => msUntilIst(config.master.refreshIst, now()) },
    });
  }

  /** /state.chains from the chain actors' snapshots. */
  chainsState(get: (systemId: string) => AnyActorRef | undefined): ChainState[] {
    return this.opts.config.chains.specs.map((spec) => {
      const snap = get(`chain:${spec.underlying}`)?.getSnapshot() as
        | {
            value: unknown;
            context: {
              underlyingKey: string | null;
              ltp: number | null;
              atm: number | null;
              expiry: number | null;
              optionKeys: string[];
              lastError: ChainState['lastError'];
            };
          }
        | undefined;
      if (!snap)
        return { underlying: spec.underlying, state: 'waitingForMaster', ltp: null, atm: null, expiry: null, keys: [], lastError: null };
      const c = snap.context;
      return {
        underlying: spec.underlying,
        state:
          typeof snap.value === 'string'
            ? snap.value
            : Object.entries(snap.value as object)
                .map(([k, v]) => `${k}.${String(v)}`)
                .join(','),
        ltp: c.ltp,
        atm: c.atm,
        expiry: c.expiry === null ? null : istDate(c.expiry),
        // An expired chain has given back the underlying too (or it was never the chain's).
        keys: [...(c.underlyingKey && snap.value !== 'expired' ? [c.underlyingKey] : []), ...c.optionKeys],
        lastError: c.lastError,
      };
    });
  }

  /** Why /ready should say no, when the master is needed and there is none. */
  notReadyReason(): string | null {
    const s = this.store.status();
    if (s.state === 'unavailable' && this.needed) return `no instrument master: ${s.lastError?.message ?? 'not loaded'}`;
    return null;
  }

  close(): void {
    this.store.close();
  }

  describe(): string {
    const s = this.store.status();
    return `${s.state}, ${s.instruments} instruments${s.lastError ? `, last error: ${describeError(s.lastError)}` : ''}`;
  }
}
