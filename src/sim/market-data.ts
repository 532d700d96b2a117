/**
 * The simulator's market: a seeded random walk per instrument, turned into V3 `Feed` messages
 * (plain objects with the proto's field names, encoded by proto-schema.ts) for each mode.
 */

export type SimMode = 'ltpc' | 'full' | 'option_greeks' | 'full_d30';
const REQUEST_MODE: Record<SimMode, number> = { ltpc: 0, full: 1, option_greeks: 2, full_d30: 3 };

/** Deterministic PRNG (mulberry32): the same seed gives the same price paths. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const tick = (x: number) => Math.round(x * 20) / 20; // NSE tick size 0.05
const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

interface Bar {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  vol: number;
}

class Instrument {
  price: number;
  readonly prevClose: number;
  volume = 0;
  day: Bar;
  minute: Bar;
  readonly isIndex: boolean;
  readonly isOption: boolean;
  constructor(
    readonly key: string,
    private readonly rand: () => number,
    now: number,
  ) {
    const segment = key.slice(0, key.indexOf('|'));
    this.isIndex = segment.endsWith('_INDEX');
    this.isOption = segment.endsWith('_FO') && /(CE|PE)$|\d{5}/.test(key);
    const base = this.isIndex ? 20_000 + rand() * 30_000 : this.isOption ? 50 + rand() * 400 : 100 + rand() * 3000;
    this.prevClose = tick(base);
    this.price = this.prevClose;
    this.day = this.bar(Math.floor(now / DAY_MS) * DAY_MS);
    this.minute = this.bar(Math.floor(now / MINUTE_MS) * MINUTE_MS);
  }

  private bar(ts: number): Bar {
    return { ts, open: this.price, high: this.price, low: this.price, close: this.price, vol: 0 };
  }

  /** One step of the walk: ~2 bp volatility per update, a traded quantity, candles rolled over. */
  step(now: number): number {
    const r = this.rand() + this.rand() + this.rand() - 1.5; // ~normal
    this.price = Math.max(0.05, tick(this.price * (1 + r * 0.0004)));
    const qty = this.isIndex ? 0 : 1 + Math.floor(this.rand() * 50) * (this.isOption ? 25 : 1);
    this.volume += qty;
    const minuteTs = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    if (minuteTs !== this.minute.ts) this.minute = this.bar(minuteTs);
    const dayTs = Math.floor(now / DAY_MS) * DAY_MS;
    if (dayTs !== this.day.ts) this.day = this.bar(dayTs);
    for (const b of [this.day, this.minute]) {
      b.high = Math.max(b.high, this.price);
      b.low = Math.min(b.low, this.price);
      b.close = this.price;
      b.vol += qty;
    }
    return qty;
  }

  private ltpc(now: number, qty: number) {
    return { ltp: this.price, ltt: now, ltq: qty, cp: this.prevClose };
  }

  private quotes(levels: number) {
    const out = [];
    for (let l = 0; l < levels; l++) {
      out.push({
        bidQ: 10 + Math.floor(this.rand() * 2000),
        bidP: tick(this.price - 0.05 * (l + 1)),
        askQ: 10 + Math.floor(this.rand() * 2000),
        askP: tick(this.price + 0.05 * (l + 1)),
      });
    }
    return out;
  }

  private greeks() {
    return {
      delta: round2(0.2 + this.rand() * 0.6),
      theta: round2(-1 - this.rand() * 10),
      gamma: Math.round(this.rand() * 1e4) / 1e6,
      vega: round2(this.rand() * 20),
      rho: round2(this.rand() * 5),
    };
  }

  private candles() {
    return [
      { interval: '1d', ...this.day },
      { interval: 'I1', ...this.minute },
    ];
  }

  /** The V3 `Feed` message for this instrument in `mode`. */
  feed(mode: SimMode, now: number, qty: number): Record<string, unknown> {
    const requestMode = REQUEST_MODE[mode];
    if (mode === 'ltpc') return { ltpc: this.ltpc(now, qty), requestMode };
    if (mode === 'option_greeks') {
      return {
        firstLevelWithGreeks: {
          ltpc: this.ltpc(now, qty),
          firstDepth: this.quotes(1)[0],
          optionGreeks: this.greeks(),
          vtt: this.volume,
          oi: this.isOption ? 10_000 + Math.floor(this.rand() * 1000) * 25 : 0,
          iv: this.isOption ? round2(0.1 + this.rand() * 0.3) : 0,
        },
        requestMode,
      };
    }
    if (this.isIndex) {
      return { fullFeed: { indexFF: { ltpc: this.ltpc(now, 0), marketOHLC: { ohlc: this.candles() } } }, requestMode };
    }
    return {
      fullFeed: {
        marketFF: {
          ltpc: this.ltpc(now, qty),
          marketLevel: { bidAskQuote: this.quotes(mode === 'full_d30' ? 30 : 5) },
          ...(this.isOption ? { optionGreeks: this.greeks() } : {}),
          marketOHLC: { ohlc: this.candles() },
          atp: round2((this.day.open + this.day.high + this.day.low + this.price) / 4),
          vtt: this.volume,
          oi: this.isOption ? 10_000 + Math.floor(this.rand() * 1000) * 25 : 0,
          iv: this.isOption ? round2(0.1 + this.rand() * 0.3) : 0,
          tbq: 1000 + Math.floor(this.rand() * 100_000),
          tsq: 1000 + Math.floor(this.rand() * 100_000),
        },
      },
      requestMode,
    };
  }
}

/** Every instrument anyone subscribed to, each with its own walk. */
export class Market {
  private readonly instruments = new Map<string, Instrument>();
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = prng(seed);
  }

  private get(key: string, now: number): Instrument {
    let i = this.instruments.get(key);
    if (!i) {
      i = new Instrument(key, prng(Math.floor(this.rand() * 2 ** 32)), now);
      this.instruments.set(key, i);
    }
    return i;
  }

  /** A snapshot (no price move) for `initial_feed`. */
  snapshot(key: string, mode: SimMode, now: number): Record<string, unknown> {
    return this.get(key, now).feed(mode, now, 0);
  }

  /** A price move and its feed, for `live_feed`. */
  update(key: string, mode: SimMode, now: number): Record<string, unknown> {
    const inst = this.get(key, now);
    const qty = inst.step(now);
    return inst.feed(mode, now, qty);
  }
}
