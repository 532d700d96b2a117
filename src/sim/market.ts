/**
 * The simulated market: one evolving state per instrument key (a seeded random walk of trades,
 * with the day's and the minute's candles, cumulative volume, open interest...). It knows
 * nothing about protobuf or sockets; feed-builder.ts turns a state into a V3 `Feed`.
 */
import { fairPremium, type OptionSpec } from './option-model.js';
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

/** A closed minute as the candle API serves it (oi: open interest at the minute's last trade). */
export interface MinuteCandle {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  vol: number;
  oi: number;
}

/** A week of minutes per key: more than any backfill asks the simulator for. */
const MAX_HISTORY = 7 * 1440;

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
  /**
   * Closed minute candles, oldest first: exactly the last value of `minute` before it rolled,
   * so the candle API serves for a minute what the live feed's I1 candle last said about it.
   */
  readonly history: MinuteCandle[] = [];
  /** Where the random walk is pulled back to: the previous close, or a level set by setLevel. */
  anchor: number;

  constructor(
    readonly key: string,
    seed: number,
    now: number,
    /** Set for options with a known spec: the fair premium now, from the underlying's level. */
    private readonly model?: (now: number) => number,
  ) {
    this.cls = classify(key);
    this.tick = this.cls === 'index' ? 0.01 : 0.05;
    this.rand = mulberry32(hashString(key, seed));
    this.noise = mulberry32(hashString(key, seed ^ 0x5bd1e995));
    this.lot = this.cls === 'option' ? 75 : this.cls === 'future' ? randInt(this.noise, 1, 10) * 10 : 1;
    this.cp = this.roundToTick(model ? model(now) : (KNOWN_CLOSES[key] ?? this.initialClose()));
    // The session opened a little away from the previous close, as real ones do.
    this.ltp = this.roundToTick(this.cp * (1 + gaussian(this.rand) * 0.004));
    this.anchor = this.cp;
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
    if (this.model) {
      // Noise around the fair premium: the chain follows its underlying, trade by trade.
      this.ltp = this.roundToTick(this.model(now) * (1 + gaussian(this.rand) * 0.003));
    } else {
      const sigma = this.cls === 'option' ? 0.004 : 0.0006;
      // A slight pull back to the anchor (the previous close) keeps long demo runs from drifting off.
      const pull = ((this.anchor - this.ltp) / this.anchor) * 0.002;
      this.ltp = this.roundToTick(this.ltp * (1 + pull + gaussian(this.rand) * sigma));
    }
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
      this.anchor = this.cp;
      this.vtt = this.ltq;
      this.turnover = this.ltp * this.ltq;
      this.day.start(day, this.ltp);
    }
    const minute = minuteStart(now);
    if (minute !== this.minute.ts) {
      const m = this.minute;
      this.history.push({ ts: m.ts, open: m.open, high: m.high, low: m.low, close: m.close, vol: m.vol, oi: this.oi });
      if (this.history.length > MAX_HISTORY + 1000) this.history.splice(0, this.history.length - MAX_HISTORY);
      this.minute.start(minute, this.ltp);
    }
  }

  /**
   * Moves the level the walk wanders around to `price` (the next trade starts from it). No trade
   * happens here: a candle only ever changes through a trade, which the feed streams when the
   * key is subscribed, so served candles stay equal to streamed ones.
   */
  setLevel(price: number): void {
    if (!Number.isFinite(price) || price <= 0) throw new TypeError(`setPrice: price must be a positive number, got ${String(price)}`);
    if (this.model) throw new TypeError(`setPrice: ${this.key} is an option priced from its underlying; move the underlying instead`);
    this.ltp = this.roundToTick(price);
    this.anchor = this.ltp;
  }

  /** Average traded price of the day. */
  get atp(): number {
    return this.vtt > 0 ? Number((this.turnover / this.vtt).toFixed(2)) : this.ltp;
  }
}

/** Every instrument the simulator has been asked about, created on first use. */
export class Market {
  private readonly states = new Map<string, InstrumentState>();
  private readonly specs = new Map<string, OptionSpec>();

  constructor(
    private readonly seed: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Declares `key` an option on `spec.underlying`: from its first trade on, it is priced from the
   * underlying. Declare before the key is first used (the instrument file does, as it lists it).
   */
  defineOption(key: string, spec: OptionSpec): void {
    if (!this.states.has(key)) this.specs.set(key, spec);
  }

  get(key: string): InstrumentState {
    let s = this.states.get(key);
    if (!s) {
      const spec = this.specs.get(key);
      const model = spec ? (now: number) => fairPremium(spec, this.get(spec.underlying).ltp, now) : undefined;
      s = new InstrumentState(key, this.seed, this.now(), model);
      this.states.set(key, s);
    }
    return s;
  }

  /** Every key that has a state, in creation order. */
  keys(): IterableIterator<string> {
    return this.states.keys();
  }

  has(key: string): boolean {
    return this.states.has(key);
  }

  /** Advances `key` by one trade and returns its state. */
  trade(key: string): InstrumentState {
    const s = this.get(key);
    s.trade(this.now());
    return s;
  }
}
