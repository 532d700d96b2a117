/**
 * What the simulator's parts share: one object built by startSimulator and handed to the HTTP
 * routes, the upgrade handler, every feed session and the ticker (no module-level state, so
 * tests can run several simulators in one process).
 */
import { pino, type Logger } from 'pino';
import { RateLimitedLog } from '../logger.js';
import { CandleLog } from './candle-log.js';
import { clockFrom } from './clock.js';
import { Faults } from './faults.js';
import { InstrumentBook } from './instrument-file.js';
import { TradingHours } from './trading-hours.js';
import { FrameClock } from './frames.js';
import { Market } from './market.js';
import { MarketStatusBook } from './market-status.js';
import type { FeedSession } from './session.js';
import { SimStats } from './sim-stats.js';
import { randomToken, TokenBook } from './tokens.js';
import type { SimulatorOptions } from './types.js';

export interface SimContext {
  readonly log: Logger;
  /** For warnings a client can trigger per message (bad requests): visible, never a flood. */
  readonly warnLimited: RateLimitedLog;
  readonly stats: SimStats;
  readonly faults: Faults;
  readonly market: Market;
  readonly clock: FrameClock;
  /** Market time (epoch ms): the injected or scaled clock of SimulatorOptions, else Date.now. */
  readonly now: () => number;
  /** Every candle API request, for tests to check a client's rate limiting. */
  readonly candleLog: CandleLog;
  /** Set with followTradingHours: segment status follows the market clock. */
  readonly tradingHours: TradingHours | undefined;
  /** The instrument file (complete.json.gz) and the option contracts it lists. */
  readonly instrumentBook: InstrumentBook;
  readonly marketStatus: MarketStatusBook;
  readonly tokens: TokenBook;
  readonly instruments: readonly string[];
  /** Open (and closing) feed sessions. */
  readonly sessions: Set<FeedSession>;
  /** The most recently opened session, even once closed: its subscription is what stats report. */
  latest: FeedSession | undefined;
  /** Live updates per second, per session. */
  rate: number;
  readonly frameIntervalMs: number;
  readonly maxBufferedBytes: number;
  /** Called each time a session has handled a 'sub' request. */
  readonly subscribeWaiters: Set<() => void>;
}

export const DEFAULT_INSTRUMENTS: readonly string[] = [
  'NSE_EQ|INE002A01018', // Reliance Industries
  'NSE_EQ|INE467B01029', // Tata Consultancy Services
  'NSE_INDEX|Nifty 50',
  'NSE_INDEX|Nifty Bank',
  'NSE_FO|54452', // a Nifty weekly option
  'MCX_FO|457534', // a crude oil future
];

export function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`simulator option ${name} must be a positive number, got ${String(value)}`);
  return value;
}

/** A rate of 0 is allowed: sockets then get market_info, snapshots and pings only. */
export function rate(value: number): number {
  return value === 0 ? 0 : positive('updatesPerSecond', value);
}

export function buildContext(opts: SimulatorOptions): SimContext {
  const instruments = opts.instruments ?? DEFAULT_INSTRUMENTS;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'upstox-sim' });
  const now = clockFrom(opts);
  const market = new Market(opts.seed ?? 1, now);
  const padTo = opts.instrumentFileSize ?? 0;
  const marketStatus = new MarketStatusBook(opts.marketStatus, instruments);
  if (!Number.isInteger(padTo) || padTo < 0)
    throw new TypeError(`simulator option instrumentFileSize must be a whole number >= 0, got ${String(padTo)}`);
  return {
    log,
    warnLimited: new RateLimitedLog(log),
    stats: new SimStats(),
    faults: new Faults(),
    market,
    clock: new FrameClock(now),
    now,
    candleLog: new CandleLog(),
    instrumentBook: new InstrumentBook(market, padTo),
    tradingHours: opts.followTradingHours ? new TradingHours() : undefined,
    marketStatus,
    tokens: new TokenBook(opts.token ?? randomToken(), positive('redirectCodeTtlMs', opts.redirectCodeTtlMs ?? 60_000)),
    instruments: [...instruments],
    sessions: new Set(),
    latest: undefined,
    rate: rate(opts.updatesPerSecond ?? 50),
    frameIntervalMs: positive('frameIntervalMs', opts.frameIntervalMs ?? 100),
    maxBufferedBytes: positive('maxBufferedBytes', opts.maxBufferedBytes ?? 4 * 1024 * 1024),
    subscribeWaiters: new Set(),
  };
}
