/**
 * One feed websocket: the client's subscription, its requests, and every frame written to it.
 * The ticker calls live() once per frame interval; everything else reacts to the client or to
 * fault injection. While the simulator is stalled nothing is written: what would have been
 * (market_info, snapshots, malformed frames) is held and flushed by resume().
 */
import type { RawData, WebSocket } from 'ws';
import type { FeedMode } from '../config.js';
import { segmentOf } from '../upstox/codec.js';
import type { SimContext } from './context.js';
import { buildFeed } from './feed-builder.js';
import { encodeStampedFrame, malformedFrame, marketInfoFrame, TYPE_INITIAL_FEED, TYPE_LIVE_FEED } from './frames.js';
import { isValidKey, parseRequest, type FeedRequest } from './requests.js';

const OPEN = 1; // WebSocket.OPEN

export class FeedSession {
  readonly subscription = new Map<string, FeedMode>();
  /** Subscribed keys in rotation order: live frames take the next ones, so every key gets its share. */
  private keys: string[] = [];
  private cursor = 0;
  /** Fractional updates owed at the configured rate, carried from frame to frame. */
  private budget = 0;
  private lastLiveAt = performance.now();
  private heldMarketInfo = false;
  private readonly heldSnapshot = new Set<string>();
  private heldMalformed = 0;
  private warnedRateCap = false;
  /**
   * A dead socket (goDead, deadOnConnect): the TCP connection stays open but nothing is written
   * (no frames, no pings) and the client's pings get no pong, like a half-open connection
   * behind a NAT that dropped its state. It never comes back; the client must give up on it.
   */
  private dead = false;

  constructor(
    readonly id: number,
    private readonly ws: WebSocket,
    private readonly ctx: SimContext,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    // autoPong is off on the server (index.ts) so that a dead socket can leave pings unanswered.
    ws.on('ping', (data) => {
      if (!this.dead && this.isOpen) ws.pong(data);
    });
    if (ctx.faults.deadOnConnect) this.goDead();
    ws.on('error', (err) => ctx.log.warn({ session: id, err }, 'feed socket error'));
  }

  get isOpen(): boolean {
    return this.ws.readyState === OPEN;
  }

  goDead(): void {
    if (!this.dead) this.ctx.log.info({ session: this.id }, 'fault: socket dead');
    this.dead = true;
  }

  /** Whether the client gets this socket's market data: the background market skips its keys then. */
  get delivering(): boolean {
    return this.isOpen && !this.dead && !this.ctx.faults.stalled && !this.ctx.faults.garbage;
  }

  /** The market_info frame the real feed sends first on every connection. */
  sendMarketInfo(): void {
    if (this.ctx.faults.stalled) {
      this.heldMarketInfo = true;
      return;
    }
    const ts = this.ctx.clock.next();
    this.send(marketInfoFrame(ts, this.ctx.marketStatus.status), ts, null);
  }

  sendMalformed(count: number): void {
    if (this.dead) return;
    if (this.ctx.faults.stalled) {
      this.heldMalformed += count;
      return;
    }
    for (let i = 0; i < count; i++) {
      this.ws.send(malformedFrame(i), { binary: true }, (err) => {
        if (!err) this.ctx.stats.malformedSent++;
      });
    }
  }

  ping(): void {
    if (!this.isOpen || this.dead) return;
    this.ws.ping();
    this.ctx.stats.pingsSent++;
  }

  close(code?: number, reason?: string): void {
    if (code === undefined) this.ws.terminate();
    else this.ws.close(code, reason);
  }

  /** Writes what a stall held back, in the order it would have gone. */
  flushHeld(): void {
    this.lastLiveAt = performance.now();
    if (this.heldMarketInfo) {
      this.heldMarketInfo = false;
      this.sendMarketInfo();
    }
    if (this.heldSnapshot.size > 0) {
      const keys = [...this.heldSnapshot].filter((k) => this.subscription.has(k));
      this.heldSnapshot.clear();
      this.sendSnapshot(keys);
    }
    if (this.heldMalformed > 0) {
      const count = this.heldMalformed;
      this.heldMalformed = 0;
      this.sendMalformed(count);
    }
  }

  /** One frame interval has passed: send the updates the rate allows, for keys whose segment trades. */
  live(now: number): void {
    // Capped so that a late timer (or a resume) does not turn into a burst.
    const elapsed = Math.min(now - this.lastLiveAt, 2 * this.ctx.frameIntervalMs);
    this.lastLiveAt = now;
    if (!this.isOpen || this.dead || this.keys.length === 0) return;
    this.budget += (this.ctx.rate * elapsed) / 1000;
    const n = Math.floor(this.budget);
    if (n <= 0) return;
    this.budget -= n;
    if (this.ctx.faults.garbage) {
      // Traffic at the live cadence, none of it decodable; the market moves on unseen.
      this.sendMalformed(1);
      return;
    }
    if (this.ws.bufferedAmount > this.ctx.maxBufferedBytes) {
      // A client that cannot keep up loses these updates here instead of growing our memory.
      this.ctx.stats.framesSkipped++;
      return;
    }
    // A late timer (a busy machine) can owe more updates than one frame carries (each key once):
    // when the rate fits one frame per interval, the surplus goes out as a second frame, so the
    // rate holds. A rate that does not fit (more than the keys per frame) stays capped, as before.
    const fits = (this.ctx.rate * this.ctx.frameIntervalMs) / 1000 <= this.keys.length;
    const frames = fits ? Math.min(2, Math.ceil(n / this.keys.length)) : 1;
    let left = n;
    for (let f = frames; f > 0 && left > 0; f--) {
      const want = Math.ceil(left / f);
      left -= want;
      const picked = this.pick(want);
      if (picked.length === 0) return;
      if (picked.length < want && !this.warnedRateCap) this.warnRateCap(picked.length);
      this.sendLive(picked);
    }
  }

  private sendLive(picked: string[]): void {
    const feeds: Record<string, unknown> = {};
    for (let i = 0; i < picked.length; i++) {
      const key = picked[i];
      feeds[key] = buildFeed(this.ctx.market.trade(key), this.subscription.get(key)!);
    }
    const { frame, ts } = encodeStampedFrame(TYPE_LIVE_FEED, feeds, this.ctx.clock);
    this.send(frame, ts, picked);
  }

  /** Said once per socket, so a demo asking for more than its keys can carry knows why. */
  private warnRateCap(perFrame: number): void {
    this.warnedRateCap = true;
    const max = Math.round((perFrame * 1000) / this.ctx.frameIntervalMs);
    this.ctx.log.info(
      { session: this.id, rate: this.ctx.rate, keys: this.keys.length, frameIntervalMs: this.ctx.frameIntervalMs },
      `live rate capped at about ${max} updates/s: each key updates at most once per frame (subscribe more keys or shorten frameIntervalMs)`,
    );
  }

  /** Up to `n` subscribed keys whose segment is live, each at most once, continuing the rotation. */
  private pick(n: number): string[] {
    const keys = this.keys;
    const out: string[] = [];
    for (let scanned = 0; scanned < keys.length && out.length < n; scanned++) {
      if (this.cursor >= keys.length) this.cursor = 0;
      const key = keys[this.cursor++];
      if (this.ctx.marketStatus.isLive(segmentOf(key))) out.push(key);
    }
    return out;
  }

  private sendSnapshot(keys: string[]): void {
    if (keys.length === 0) return;
    if (this.ctx.faults.stalled) {
      for (const k of keys) this.heldSnapshot.add(k);
      return;
    }
    const feeds: Record<string, unknown> = {};
    for (const key of keys) feeds[key] = buildFeed(this.ctx.market.get(key), this.subscription.get(key)!);
    const { frame, ts } = encodeStampedFrame(TYPE_INITIAL_FEED, feeds, this.ctx.clock);
    this.send(frame, ts, keys);
  }

  private send(frame: Buffer, ts: number, keys: string[] | null): void {
    if (this.dead) return;
    if (this.ctx.faults.garbage) {
      this.sendMalformed(1);
      return;
    }
    this.ws.send(frame, { binary: true }, (err) => {
      if (err) this.ctx.log.debug({ session: this.id, err }, 'frame not written: socket closed');
      else this.ctx.stats.recordFrame(ts, keys);
    });
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const text = rawToString(data);
    const parsed = parseRequest(text);
    if (!parsed.ok) {
      this.ctx.stats.badRequests++;
      this.ctx.warnLimited.warn(
        { session: this.id, isBinary, error: parsed.error, sample: text.slice(0, 200) },
        'ignoring malformed feed request',
      );
      return;
    }
    const req = parsed.request;
    this.ctx.stats.recordRequest({ guid: req.guid, method: req.method, ...(req.mode ? { mode: req.mode } : {}), keys: [...req.keys] });
    const keys = this.validKeys(req);
    this.ctx.log.debug({ session: this.id, guid: req.guid, method: req.method, mode: req.mode, keys: keys.length }, 'feed request');
    if (req.method === 'sub') this.subscribe(keys, req.mode!);
    else if (req.method === 'unsub') this.unsubscribe(keys);
    else this.changeMode(keys, req.mode!);
  }

  private validKeys(req: FeedRequest): string[] {
    const bad = req.keys.filter((k) => !isValidKey(k));
    // Like the real feed, bad keys get no data; the rest of the request still applies.
    if (bad.length > 0)
      this.ctx.warnLimited.warn(
        { session: this.id, guid: req.guid, bad: bad.slice(0, 10) },
        'ignoring invalid instrument keys (want SEGMENT|id)',
      );
    return [...new Set(req.keys.filter(isValidKey))];
  }

  private subscribe(keys: string[], mode: FeedMode): void {
    for (const key of keys) {
      if (!this.subscription.has(key)) this.keys.push(key);
      this.subscription.set(key, mode);
    }
    this.sendSnapshot(keys);
    const waiters = [...this.ctx.subscribeWaiters];
    this.ctx.subscribeWaiters.clear();
    for (const resolve of waiters) resolve();
  }

  private unsubscribe(keys: string[]): void {
    for (const key of keys) this.subscription.delete(key);
    this.keys = this.keys.filter((k) => this.subscription.has(k));
    for (const key of keys) this.heldSnapshot.delete(key);
  }

  /** Only subscribed keys change mode (an unsubscribed key stays unsubscribed). */
  private changeMode(keys: string[], mode: FeedMode): void {
    const changed = keys.filter((k) => this.subscription.has(k));
    for (const key of changed) this.subscription.set(key, mode);
    this.sendSnapshot(changed);
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
