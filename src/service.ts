/**
 * The composition root: builds every implementation, provides it to the machines, starts the
 * actor system and the server, and stops them in reverse. Startup order (logged): configuration
 * (done by the caller), spool, writer, drainer, notifier, server, then the feed. Shutdown: the
 * feed, the server, then storage (buffered points to InfluxDB or the spool), then the actors.
 */
import type { FastifyInstance } from 'fastify';
import { type Actor, type AnyActorRef, createActor } from 'xstate';
import { leaseTiming } from '../machines/leadership.js';
import { pipelineMachine } from '../machines/pipeline.js';
import type { Subscription, SubscriptionChangeRequest, SubscriptionChangeResult } from '../machines/rules/subscriptions.js';
import { planSubscriptionChange } from '../machines/rules/subscriptions.js';
import type { Config } from './config.js';
import { SubscriptionError, TickpipeError } from './errors.js';
import { Fanout } from './fanout/fanout.js';
import { Instruments } from './instruments/instruments-service.js';
import type { Logger } from './logger.js';
import { NatsLease } from './nats/lease.js';
import { provideLeadership } from './nats/leadership-impl.js';
import { NatsLink } from './nats/link.js';
import { natsState, registerNatsMetrics } from './nats/observe.js';
import { NatsPublisher } from './nats/publisher.js';
import { notifierInput, provideNotifier } from './notify/http-notifier.js';
import { InspectionHub } from './inspector/hub.js';
import { createTransitionLogger } from './logging/transition-logger.js';
import { buildServer } from './server/app.js';
import { configSecrets, secretScrubber } from './redact.js';
import { createMetrics } from './server/metrics.js';
import { buildReadiness, buildStateDocument } from './state-document.js';
import { Stats } from './stats.js';
import { drainerInput, provideDrainer, provideWriter, writerInput } from './storage/storage.js';
import { StorageWorker } from './storage/worker/storage-worker.js';
import { connectionInput, provideConnection } from './upstox/connection-impl.js';
import { TokenSource } from './upstox/token-source.js';
import { segmentOf } from '../machines/rules/instrument-key.js';
import { createGapService } from './gaps/gap-service.js';
import { registerGapMetrics } from './gaps/gap-metrics.js';
import { gapLine } from './gaps/gap-points.js';

export interface Service {
  /** http://host:port of the local server. */
  url: string;
  stats: Stats;
  root: Actor<typeof pipelineMachine>;
  state(): ReturnType<typeof buildStateDocument>;
  /** The storage worker's proxy (its snapshot, and test hooks). */
  storage: StorageWorker;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger: Logger;
  /**
   * The storage worker died after the start (logged at fatal level where it is detected): points
   * can no longer be spooled, so the caller stops the service (main.ts: exit non-zero).
   */
  onStorageFailure?: (err: TickpipeError) => void;
}

/** Time the storage gets on shutdown to write what is buffered (the rest stays spooled). */
const STORAGE_SHUTDOWN_MS = 6000;
/** A /ticks client that has not answered the close handshake by then is cut. */
const CLIENT_CLOSE_GRACE_MS = 1000;
/** app.close() is not awaited longer than this (main.ts exits non-zero at 10 s). */
const SERVER_CLOSE_MS = 2000;
/** The whole stop, so that main.ts's 10 s deadline is never reached. */
const STOP_BUDGET_MS = 8000;

export async function startService(config: Config, opts: ServiceOptions): Promise<Service> {
  const { logger } = opts;
  const stats = new Stats();
  const startedAt = Date.now();
  // Assigned once the actors are provided with the storage built below; read lazily until then.
  let root: Actor<typeof pipelineMachine> | undefined = undefined;

  // The instrument master before anything opens: names in INSTRUMENTS that do not resolve stop
  // the start with a ConfigError. Waited for only when names or chains need it.
  const instruments = new Instruments({ config, logger });
  await instruments.start();
  const symbolOf = (key: string) => instruments.symbolOf(key);

  // Storage first: the spool must be open before any tick can arrive. It runs on the storage
  // worker's thread (src/storage/worker/): an open failure (locked, second instance, corrupt)
  // stops the start with its code. Its reports go to the root, which routes them (nothing is
  // reported before the root starts: no tick arrives before).
  let metricsHook: ((s: number, o: string) => void) | undefined = undefined;
  let frameHook: ((frameTs: number, arrivedAt: number) => void) | undefined = undefined;
  const secrets = configSecrets(config);
  let storage: StorageWorker;
  try {
    storage = await StorageWorker.open({
      config,
      secrets,
      logger,
      stats,
      report: (event) => root?.send(event),
      observeWriteLatency: (s, o) => metricsHook?.(s, o),
      symbolOf,
      onFailure: (err) => opts.onStorageFailure?.(err),
      // Frames the full queue did not take: a gap in InfluxDB, recorded and backfilled like an outage.
      onNotStored: (r) => root?.send({ type: 'STORAGE_GAP', at: gaps.clock.now(), ...r }),
    });
  } catch (err) {
    instruments.close();
    throw err;
  }
  logger.info({ path: config.spool.path, pendingPoints: storage.snapshot.pendingPoints }, 'spool open');

  const connection = () => root?.getSnapshot().children.connection;
  const subscription = (): Subscription => connection()?.getSnapshot().context.subscription ?? {};
  const fanout = new Fanout({
    stats,
    logger: logger.child({ component: 'ticks' }),
    maxBufferedBytes: config.http.wsMaxBufferedBytes,
    feedKeys: () => new Set(Object.keys(subscription())),
    symbolOf,
  });
  instruments.onSwap(() => {
    storage.symbolsChanged();
    fanout.symbolsChanged();
  });
  const tokenSource = new TokenSource(config.upstox.accessToken, config.upstox.tokenUrl, config.upstox.httpTimeoutMs);
  let stopping = false;
  // The gap ledger and backfill: candles and gap records take the live points' write path (spool first).
  const gaps = createGapService({
    config,
    logger,
    token: () => tokenSource.current(),
    subscription,
    // The ledger's SQLite runs on the storage worker's thread: none on this event loop.
    port: storage,
    sink: {
      async writeCandles(batch) {
        for (const b of batch) {
          storage.pushCandles(
            b.key,
            segmentOf(b.key),
            b.candles.map((c) => ({ interval: 'I1', open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, ts: c.ts })),
          );
        }
        // Resolved once the worker has spooled them: the ledger may then mark the gap filled.
        await storage.flushed();
        if (stopping) throw new TickpipeError('SPOOL_FAILED', 'the service is stopping; the gap stays pending for the next start');
      },
      writeGap(row) {
        storage.pushLines([{ line: gapLine(row, config.influx.extraTags), ts: row.from }]);
        storage.flush();
      },
    },
  });
  // The lease carries this instance's last-frame mark, so a standby taking over records the gap.
  // The keys are those of the last feed that ran: a leader re-elected before its feed restarts
  // has no connection (no subscription) yet, but its mark still stands for what it streamed.
  let markKeys: string[] = [];
  const nats = startNats(config, logger, () => {
    const keys = Object.keys(subscription());
    if (keys.length > 0) markKeys = keys;
    return { at: gaps.clock.lastFrameAt(), keys: markKeys };
  });
  if (nats.publisher) {
    const p = nats.publisher;
    fanout.attachBus({
      tick: (key, ts, payload) => p.publishTick(key, ts, payload),
      marketStatus: (ts, payload) => p.publishMarketStatus(ts, payload),
    });
  }
  const sink = {
    frame(frame: Parameters<typeof fanout.publish>[0], raw: Uint8Array) {
      gaps.noteFrame(frame.ts);
      storage.pushFrame(frame, raw);
      fanout.publish(frame);
      instruments.prices.observe(frame);
    },
    handled(frameTs: number, arrivedAt: number) {
      frameHook?.(frameTs, arrivedAt);
    },
  };

  const hub = new InspectionHub({
    logger: logger.child({ component: 'inspect' }),
    ...(config.inspect ? { relayUrl: config.inspect } : {}),
  });
  const logTransition = createTransitionLogger(logger);
  root = createActor(
    pipelineMachine.provide({
      actors: {
        connection: provideConnection({
          config: config.upstox,
          tokenSource,
          sink,
          stats,
          logger: logger.child({ actor: 'connection' }),
          resolveNames: (entries) => instruments.resolveLoaded(entries),
        }),
        writer: provideWriter({ writePath: storage, logger: logger.child({ actor: 'writer' }) }),
        drainer: provideDrainer({ writePath: storage, logger: logger.child({ actor: 'drainer' }) }),
        notifier: provideNotifier({
          url: config.notify.url,
          timeoutMs: config.notify.timeoutMs,
          logger: logger.child({ actor: 'notifier' }),
        }),
        backfill: gaps.logic,
        // A chain's change is planned against the live subscription and applied whole through the root.
        chains: instruments.chainsLogic({
          get: subscription,
          set: (next) => root?.send({ type: 'SET_SUBSCRIPTION', subscription: next }),
        }),
        ...(nats.lease
          ? {
              leadership: provideLeadership({
                lease: nats.lease,
                requestTimeoutMs: leaseTiming(config.ha.leaseTtlMs).requestTimeoutMs,
                // The feed is already stopped (STEP_DOWN): what is batched goes out now.
                flush: () => storage.flushed(),
                logger: logger.child({ actor: 'leadership' }),
              }),
            }
          : {}),
      },
    }),
    {
      input: {
        connection: connectionInput({
          ...config.upstox,
          // Names resolved; with OPTION_CHAINS alone the subscription starts empty (the chains fill it).
          instruments: instruments.instruments ?? (config.upstox.instrumentsUrl ? undefined : []),
        }),
        writer: writerInput(config),
        drainer: drainerInput(config),
        notifier: notifierInput(config),
        backfill: gaps.input,
        chains: instruments.chainsInput(),
        leadership: config.ha.group
          ? { timing: leaseTiming(config.ha.leaseTtlMs), instance: config.ha.instance, group: config.ha.group, now: Date.now }
          : null,
      },
      systemId: 'pipeline',
      inspect: (ev) => {
        logTransition(ev);
        hub.inspect(ev);
      },
    },
  );
  root.start();
  try {
    // The previous run's outage is found before the feed starts (on the worker's thread).
    await gaps.begin(root);
  } catch (err) {
    root.stop();
    instruments.close();
    await storage.close(0);
    await nats.close();
    throw err;
  }
  logger.info('writer, drainer, notifier and backfill started');

  const instrumentsConfigured = config.upstox.instruments !== undefined || config.upstox.instrumentsUrl !== undefined;
  const publisher = nats.publisher;
  const natsDoc = publisher ? () => natsState(publisher, config.nats.stream) : undefined;
  const state = () => ({
    ...buildStateDocument({
      root: root,
      stats,
      storage,
      startedAt,
      fanout,
      ...(natsDoc ? { nats: natsDoc } : {}),
    }),
    master: instruments.status(),
    chains: instruments.chainsState((id) => root?.system.get(id) as AnyActorRef | undefined),
  });
  const metrics = createMetrics({
    stats,
    actorStates: () => Object.fromEntries(Object.entries(state().actors).map(([k, v]) => [k, v.value])),
    spoolPendingPoints: () => storage.snapshot.pendingPoints,
    storageWorker: storage,
    wsClients: () => fanout.clientCount,
  });
  metricsHook = (s, o) => metrics.observeWriteLatency(s, o);
  frameHook = (t, a) => metrics.observeFrame(t, a);
  registerGapMetrics(metrics.registry, gaps.ledger);
  if (natsDoc) registerNatsMetrics(metrics.registry, natsDoc);

  const changeSubscription = (request: SubscriptionChangeRequest): SubscriptionChangeResult => {
    // Names (SEGMENT:TRADING_SYMBOL) become keys; one that does not resolve is refused alone.
    const add = instruments.resolve(request.add ?? []);
    const remove = instruments.resolve(request.remove ?? []);
    const req = { ...request, ...(request.add ? { add: add.keys } : {}), ...(request.remove ? { remove: remove.keys } : {}) };
    const planned = planSubscriptionChange(subscription(), req, config.upstox.limits, config.upstox.feedMode);
    const plan = { ...planned, refused: [...add.refused, ...remove.refused, ...planned.refused] };
    if (plan.accepted.length === 0 && plan.removed.length === 0 && plan.refused.length > 0) {
      throw new SubscriptionError(
        `nothing could be applied: ${plan.refused
          .map((r) => `${r.key}: ${r.reason}`)
          .slice(0, 5)
          .join('; ')}`,
      );
    }
    if (!connection()) throw new SubscriptionError('the feed is not running');
    root.send({ type: 'SET_SUBSCRIPTION', subscription: plan.subscription });
    logger.info({ accepted: plan.accepted.length, removed: plan.removed.length, refused: plan.refused.length }, 'subscription changed');
    return plan;
  };

  let app: FastifyInstance;
  try {
    app = await buildServer({
      logger,
      http: config.http,
      stats,
      state,
      readiness: () => {
        const r = buildReadiness(state(), { instrumentsConfigured });
        const master = instruments.notReadyReason();
        return master ? { ready: false, reasons: [...r.reasons, master] } : r;
      },
      resolveInstruments: (entries) => instruments.resolve(entries),
      fanout,
      subscriptions: { current: subscription, change: changeSubscription },
      metrics,
      inspection: hub,
      gaps: gaps.ledger,
      scrub: secretScrubber(secrets),
    });
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    root.stop();
    void gaps.stop();
    instruments.close();
    await storage.close(0);
    await nats.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  logger.info({ url }, `server listening on ${url}`);

  root.send({ type: 'START_FEED' });
  logger.info(
    { maxConnections: config.upstox.maxConnections },
    `feed started: one of the ${config.upstox.maxConnections} feed connections Upstox allows this user (UPSTOX_MAX_CONNECTIONS); other programs on the same user share the rest`,
  );

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      // The order that makes shutdown always finish. The batch being built goes to the spool
      // first (durable whatever happens next); clients that do not read are cut after a grace;
      // InfluxDB gets what time is left; nothing here waits without a bound.
      const t0 = Date.now();
      storage.flush();
      // A leader then hands its lease over (STEP_DOWN stops the feed, the lease is deleted): a
      // standby takes over at once instead of after the TTL.
      await stopLeadership(root, logger);
      root.send({ type: 'STOP_FEED' });
      logger.info('batch flushed to the spool; feed stopped');
      fanout.closeAll(1001, 'tickpipe is shutting down', CLIENT_CLOSE_GRACE_MS);
      const closed = await Promise.race([
        app.close().then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), SERVER_CLOSE_MS).unref()),
      ]);
      if (closed) logger.info('server closed');
      else logger.warn(`server did not close within ${SERVER_CLOSE_MS} ms; going on with storage`);
      // The clean-stop record, so that the next start records a `service stopped` gap: posted to the
      // storage worker just before its close, which applies it first (or says why it could not).
      void gaps.stop();
      await storage.close(Math.max(0, Math.min(STORAGE_SHUTDOWN_MS, STOP_BUDGET_MS - (Date.now() - t0))));
      root.stop();
      await nats.close();
      hub.stop();
      instruments.close();
    })());

  return { url, stats, root, state, storage, stop };
}

/** NATS_URL: one connection for publishing and, with HA_GROUP, the lease. */
function startNats(config: Config, logger: Logger, mark: () => { at: number; keys: readonly string[] }) {
  const servers = config.nats.servers;
  if (!servers) return { publisher: null, lease: null, close: async () => {} };
  const log = logger.child({ component: 'nats' });
  const link = new NatsLink({
    servers,
    name: `tickpipe ${config.ha.instance}`,
    reconnectBaseMs: config.nats.reconnectBaseMs,
    reconnectMaxMs: config.nats.reconnectMaxMs,
    pingIntervalMs: config.nats.pingIntervalMs,
    logger: log,
  });
  const publisher = new NatsPublisher({
    link,
    stream: config.nats.stream,
    maxAgeS: config.nats.maxAgeS,
    maxInFlight: config.nats.maxInFlight,
    ackTimeoutMs: config.nats.ackTimeoutMs,
    logger: log,
  });
  const lease = config.ha.group
    ? new NatsLease({
        link,
        group: config.ha.group,
        instance: config.ha.instance,
        ttlMs: config.ha.leaseTtlMs,
        requestTimeoutMs: leaseTiming(config.ha.leaseTtlMs).requestTimeoutMs,
        mark,
      })
    : null;
  link.start();
  return {
    publisher,
    lease,
    close: async () => {
      await publisher.close(2000);
      await link.close();
    },
  };
}

/** Graceful stop of the leadership actor (if any): at most a few lease request timeouts. */
async function stopLeadership(root: Actor<typeof pipelineMachine>, logger: Logger): Promise<void> {
  const leadership = root.getSnapshot().children.leadership;
  if (!leadership || leadership.getSnapshot().status !== 'active') return;
  leadership.send({ type: 'STOP' });
  const done = new Promise<void>((resolve) => {
    const sub = leadership.subscribe({ complete: () => (sub.unsubscribe(), resolve()) });
    if (leadership.getSnapshot().status !== 'active') resolve();
  });
  // Bounded: the lease request has its own timeout, and shutdown must finish within 10 s.
  await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
  logger.info({ leadership: leadership.getSnapshot().value }, 'leadership handed over');
}
