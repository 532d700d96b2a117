/**
 * The simulated market: one evolving state per instrument key (a seeded random walk of trades,
 * with the day's and the minute's candles, cumulative volume, open interest...). It knows
 * nothing about protobuf or sockets; feed-builder.ts turns a state into a V3 `Feed`.
 */
import { gaussian, hashString, mulberry32, randInt, type Rand } from './prng.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** IST is UTC+05:30 and Upstox's daily candle starts at midnight IST. */
const IST_OFFSET_MS = 19_800_000;

export type InstrumentClass = 'equity' | 'index' | 'option' | 'future';

/** Start of the IST calendar day holding `ms`, as epoch ms. */
export function istDayStart(ms: number): number {
  return Math.floor((ms + IST_OFFSET_MS) / DAY_MS) * DAY_MS - IST_OFFSET_MS;
}

export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

/** Segments ending in _INDEX carry indices; NSE_FO/BSE_FO carry options (greeks); other _FO futures. */
export function classify(key: string): InstrumentClass {
  const bar = key.indexOf('|');
  const segment = bar < 0 ? key : key.slice(0, bar);
  if (segment.endsWith('_INDEX')) return 'index';
  if (segment === 'NSE_FO' || segment === 'BSE_FO') return 'option';
  if (segment.endsWith('_FO') || segment.endsWith('_COM')) return 'future';
  return 'equity';
}

/** Previous closes of the default instruments, so the demo shows familiar magnitudes. */
const KNOWN_CLOSES: Record<string, number> = {
  'NSE_EQ|INE002A01018': 1425.3,
  'NSE_EQ|INE467B01029': 3410.55,
  'NSE_INDEX|Nifty 50': 24615.2,
  'NSE_INDEX|Nifty Bank': 52140.85,
};

export class Candle {
  ts = 0;
  open = 0;
  high = 0;
  low = 0;
  close = 0;
  vol = 0;

  start(ts: number, price: number): void {
    this.ts = ts;
    this.open = this.high = this.low = this.close = price;
    this.vol = 0;
  }

  trade(price: number, qty: number): void {
    if (price > this.high) this.high = price;
    if (price < this.low) this.low = price;
    this.close = price;
    this.vol += qty;
  }
}

export class InstrumentState {
  readonly cls: InstrumentClass;
  /** Price increment: 0.05 rupees for traded instruments, 0.01 for index values. */
  readonly tick: number;
  /** Drives the price path only, so the path depends on the seed and the update count alone. */
  readonly rand: Rand;
  /** Order-book and other cosmetic noise, kept off the price path's stream. */
  readonly noise: Rand;
  readonly lot: number;
  cp: number;
  ltp: number;
  ltt = 0;
  ltq = 0;
  vtt = 0;
  turnover = 0;
  oi = 0;
  iv = 0;
  tbq = 0;
  tsq = 0;
  updates = 0;
  readonly day = new Candle();
  readonly minute = new Candle();

  constructor(
    readonly key: string,
    seed: number,
    now: number,
  ) {
    this.cls = classify(key);
    this.tick = this.cls === 'index' ? 0.01 : 0.05;
    this.rand = mulberry32(hashString(key, seed));
    this.noise = mulberry32(hashString(key, seed ^ 0x5bd1e995));
    this.lot = this.cls === 'option' ? 75 : this.cls === 'future' ? randInt(this.noise, 1, 10) * 10 : 1;
    this.cp = this.roundToTick(KNOWN_CLOSES[key] ?? this.initialClose());
    // The session opened a little away from the previous close, as real ones do.
    this.ltp = this.roundToTick(this.cp * (1 + gaussian(this.rand) * 0.004));
    this.day.start(istDayStart(now), this.ltp);
    this.minute.start(minuteStart(now), this.ltp);
    if (this.cls === 'option' || this.cls === 'future') this.oi = randInt(this.noise, 50, 5000) * this.lot;
    if (this.cls === 'option') this.iv = 0.12 + this.noise() * 0.2;
    this.trade(now);
  }

  private initialClose(): number {
    if (this.cls === 'option') return 20 + this.rand() * 480;
    if (this.cls === 'index') return 5000 + this.rand() * 60_000;
    return 100 + this.rand() * 4900;
  }

  roundToTick(price: number): number {
    const ticks = Math.max(1, Math.round(price / this.tick));
    // toFixed keeps e.g. 1425.35 from printing as 1425.3500000000001 downstream.
    return Number((ticks * this.tick).toFixed(2));
  }

  /** One trade at `now`: the price takes a random step, volumes and candles follow. */
  trade(now: number): void {
    this.updates++;
    const sigma = this.cls === 'option' ? 0.004 : 0.0006;
    // A slight pull back to the previous close keeps long demo runs from drifting off.
    const pull = ((this.cp - this.ltp) / this.cp) * 0.002;
    this.ltp = this.roundToTick(this.ltp * (1 + pull + gaussian(this.rand) * sigma));
    this.ltt = now;
    this.ltq = this.cls === 'index' ? 0 : randInt(this.rand, 1, this.cls === 'equity' ? 500 : 20) * this.lot;
    this.vtt += this.ltq;
    this.turnover += this.ltp * this.ltq;
    this.rollCandles(now);
    this.day.trade(this.ltp, this.ltq);
    this.minute.trade(this.ltp, this.ltq);
    if (this.oi > 0) this.oi = Math.max(this.lot, this.oi + randInt(this.noise, -3, 3) * this.lot);
    if (this.iv > 0) this.iv = Math.min(0.9, Math.max(0.05, this.iv + (this.noise() - 0.5) * 0.002));
    if (this.cls !== 'index') {
      this.tbq = randInt(this.noise, 1_000, 500_000) * this.lot;
      this.tsq = randInt(this.noise, 1_000, 500_000) * this.lot;
    }
  }

  private rollCandles(now: number): void {
    const day = istDayStart(now);
    if (day !== this.day.ts) {
      // A new trading day: yesterday's last price is the new previous close.
      this.cp = this.day.close;
      this.vtt = this.ltq;
      this.turnover = this.ltp * this.ltq;
      this.day.start(day, this.ltp);
    }
    const minute = minuteStart(now);
    if (minute !== this.minute.ts) this.minute.start(minute, this.ltp);
  }

  /** Average traded price of the day. */
  get atp(): number {
    return this.vtt > 0 ? Number((this.turnover / this.vtt).toFixed(2)) : this.ltp;
  }
}

/** Every instrument the simulator has been asked about, created on first use. */
export class Market {
  private readonly states = new Map<string, InstrumentState>();

  constructor(
    private readonly seed: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): InstrumentState {
    let s = this.states.get(key);
    if (!s) {
      s = new InstrumentState(key, this.seed, this.now());
      this.states.set(key, s);
    }
    return s;
  }

  /** Advances `key` by one trade and returns its state. */
  trade(key: string): InstrumentState {
    const s = this.get(key);
    s.trade(this.now());
    return s;
  }
}
