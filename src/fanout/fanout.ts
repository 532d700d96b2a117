/**
 * The /ticks fan-out: every update is serialised once and the same string goes to every client
 * that wants its key. The latest update per key is kept for snapshots.
 *
 * Slow-consumer policy: a client whose socket has more than `softLimitBytes` queued is not
 * written to any more; instead only the latest message per key is kept for it (conflation; each
 * message replaced this way is counted in stats.wsMessagesDropped). When its queue drains below
 * half the soft limit, the kept messages are sent and normal delivery resumes. A client that
 * stays slow for `slowClientTimeoutMs`, or whose queue passes `maxBufferedBytes`, is closed with
 * code 4008 and a reason (stats.wsClientsDropped). So a stalled client costs at most the soft
 * limit plus one message per key, and never slows the pipeline: publish() never waits.
 *
 * Everything a client is sent goes through that one policy: ticks, snapshots, market status and
 * the control replies (acks, errors) alike. While a client is conflated its control replies
 * cannot be merged (each answers its own request), so at most `maxPendingControl` of them wait;
 * a client whose replies pile up past that is not reading and is dropped like any slow client.
 *
 * Cost per client is what limits the fan-out (on loopback a send costs the whole TCP receive
 * path too), so: each update becomes a complete websocket frame once, written as bytes straight
 * into one Buffer per DecodedFrame (tick-frames.ts), and those bytes are written straight to
 * every interested client's TCP socket; a client of '*' gets runs of that Buffer (one write for
 * a frame of up to half the soft limit); and each client's socket is corked for the length of
 * one publish(), so a frame costs one writev per client (test/bench/fanout.bench.ts).
 */
import type { WebSocket } from 'ws';
import { INSTRUMENT_KEY_HINT, isInstrumentKey } from '../../machines/rules/instrument-key.js';
import type { Logger } from '../logger.js';
import type { Stats } from '../stats.js';
import type { DecodedFrame, TickUpdate } from '../upstox/feed-types.js';
import { marketStatusJson, tickJson } from './tick-json.js';
import type { Text } from '../ascii-bytes.js';
import { TickFrames, tickHead } from './tick-frames.js';

export const SLOW_CLIENT_CLOSE_CODE = 4008;
const MARKET_STATUS_KEY = '\u0000market_status';
const CONTROL_KEY_PREFIX = '\u0000control:';
/** A Buffer sent with this is a text message (the bytes are UTF-8 JSON). */
const AS_TEXT = { binary: false } as const;

export interface FanoutOptions {
  stats: Stats;
  logger: Logger;
  /** Queued bytes past which a client is conflated (default 256 KiB). */
  softLimitBytes?: number;
  /** Queued bytes past which a client is dropped (config http.wsMaxBufferedBytes). */
  maxBufferedBytes: number;
  /** A client conflated this long is dropped (default 10 s). */
  slowClientTimeoutMs?: number;
  /** Keys one client may name (default 5000, the largest V3 subscription). */
  maxKeysPerClient?: number;
  /** Control replies kept for a conflated client before it is dropped (default 64). */
  maxPendingControl?: number;
  /** The keys the feed is subscribed to: a client may only ask for those. */
  feedKeys(): ReadonlySet<string>;
  /** The trading symbol of a key (instrument master), for `"symbol"` in tick messages. */
  symbolOf?: (key: string) => string | undefined;
}

/**
 * Where every message /ticks would send also goes, as the same JSON bytes (NATS: src/nats/).
 * Called once per update, after the frame's bytes have gone to the /ticks clients.
 */
export interface TickBus {
  tick(key: string, ts: number, payload: Buffer): void;
  marketStatus(ts: number, payload: Buffer): void;
}

/** The part of a net.Socket the fan-out writes prebuilt frames through. */
interface RawSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
}

/**
 * ws keeps the TCP socket in `_socket` (not public API). Prebuilt frames may go straight to it
 * only without a negotiated extension (permessage-deflate would need each frame compressed);
 * otherwise, or without `_socket`, every message goes through `ws.send`.
 */
function rawSocketOf(ws: WebSocket): RawSocket | null {
  const s = (ws as unknown as { _socket?: Partial<RawSocket> })._socket;
  if (ws.extensions !== '' || !s) return null;
  return typeof s.cork === 'function' && typeof s.uncork === 'function' && typeof s.write === 'function' ? (s as RawSocket) : null;
}

/**
 * A message kept for a conflated client. A live tick is a view into its frame's Buffer (every
 * update's message, ~160 KB for 200 instruments): kept as it is, each key's latest message could
 * hold a different frame's whole Buffer for as long as the client stays slow. A copy holds its own bytes.
 */
function kept(payload: string | Buffer): string | Buffer {
  return typeof payload === 'string' ? payload : Buffer.from(payload);
}

export class TicksClient {
  readonly keys = new Set<string>();
  all = false;
  /** True while its socket is corked by publish(). */
  corked = false;
  readonly tcp: RawSocket | null;
  /** Latest message per key while conflating; null while delivering normally. */
  pending: Map<string, string | Buffer> | null = null;
  /** How many of `pending` are control replies (acks, errors). */
  pendingControl = 0;
  slowSince = 0;
  constructor(
    readonly socket: WebSocket,
    readonly id: number,
  ) {
    this.tcp = rawSocketOf(socket);
  }
}

export interface SubscribeOutcome {
  accepted: string[];
  refused: Array<{ key: string; reason: string }>;
}

export class Fanout {
  private readonly clients = new Set<TicksClient>();
  private readonly byKey = new Map<string, Set<TicksClient>>();
  private readonly latest = new Map<string, TickUpdate>();
  private readonly segments: Record<string, string> = {};
  private lastStatusTs = 0;
  /** Keys of control messages (acks, errors) queued for a conflated client: unique, never reused, so none overwrites another. */
  private controlSeq = 0;
  private readonly softLimit: number;
  private readonly slowTimeout: number;
  private readonly maxKeys: number;
  private readonly maxPendingControl: number;
  private timer: NodeJS.Timeout | undefined;
  /** `,"symbol":"..."` (or '') per key, built once: tick messages are built per update. */
  private readonly symbolFields = new Map<string, string>();
  private readonly heads = new Map<string, Text>();
  /** The messages of the frame being published (its Buffer is new each frame). */
  private readonly frames = new TickFrames();
  private nextId = 1;
  /** Reused by publish(): the clients it corked. */
  private readonly corked: TicksClient[] = [];
  /** Set by attachBus(); messages for it wait in `busQueue` until the clients' sockets are uncorked. */
  private bus: TickBus | null = null;
  private readonly busQueue: Array<{ key: string; ts: number; payload: Buffer }> = [];
  private busStatus: Buffer | null = null;
  private busStatusTs = 0;

  constructor(private readonly opts: FanoutOptions) {
    this.softLimit = opts.softLimitBytes ?? 256 * 1024;
    this.slowTimeout = opts.slowClientTimeoutMs ?? 10_000;
    this.maxKeys = opts.maxKeysPerClient ?? 5000;
    this.maxPendingControl = opts.maxPendingControl ?? 64;
  }

  /** Every later update is also handed to `bus` (NATS publishing). */
  attachBus(bus: TickBus): void {
    this.bus = bus;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The instrument master changed: symbols are looked up afresh. */
  symbolsChanged(): void {
    this.symbolFields.clear();
    this.heads.clear();
  }

  /** The bytes of a live tick up to its time, per key (symbolField's, built once). */
  private tickHead(key: string): Text {
    let h = this.heads.get(key);
    if (h === undefined) {
      h = tickHead(key, this.symbolField(key));
      if (this.heads.size < 100_000) this.heads.set(key, h);
    }
    return h;
  }

  private symbolField(key: string): string {
    let f = this.symbolFields.get(key);
    if (f === undefined) {
      const symbol = this.opts.symbolOf?.(key);
      f = symbol === undefined ? '' : ',"symbol":' + JSON.stringify(symbol);
      // Bounded like the subscription: unknown keys cost '' and are looked up again after a swap.
      if (this.symbolFields.size < 100_000) this.symbolFields.set(key, f);
    }
    return f;
  }

  /** Hot path: called synchronously for every decoded frame. */
  publish(frame: DecodedFrame): void {
    const corked = this.corked;
    if (frame.updates.length > 1) {
      for (const c of this.clients) {
        if (c.pending !== null || c.tcp === null) continue;
        c.tcp.cork();
        c.corked = true;
        corked.push(c);
      }
    }
    try {
      this.publishFrame(frame);
    } finally {
      for (let i = 0; i < corked.length; i++) {
        const c = corked[i];
        if (c.corked) c.tcp!.uncork();
        c.corked = false;
      }
      corked.length = 0;
    }
    if (this.bus !== null) this.flushBus(this.bus);
  }

  /** After the /ticks clients: the bus never adds to their latency. */
  private flushBus(bus: TickBus): void {
    if (this.busStatus !== null) {
      bus.marketStatus(this.busStatusTs, this.busStatus);
      this.busStatus = null;
    }
    const q = this.busQueue;
    for (let i = 0; i < q.length; i++) bus.tick(q[i].key, q[i].ts, q[i].payload);
    q.length = 0;
  }

  private publishFrame(frame: DecodedFrame): void {
    if (frame.marketStatus) {
      Object.assign(this.segments, frame.marketStatus);
      this.lastStatusTs = frame.ts;
      if (this.clients.size > 0 || this.bus !== null) {
        // Every segment known so far, not just this frame's: a conflated client keeps only the
        // latest market_status message, which must then still hold the whole picture.
        const text = marketStatusJson(this.segments, frame.ts);
        for (const c of this.clients) this.deliver(c, MARKET_STATUS_KEY, text);
        if (this.bus !== null) {
          this.busStatus = Buffer.from(text);
          this.busStatusTs = frame.ts;
        }
      }
    }
    const updates = frame.updates;
    const anyAll = this.allCount > 0;
    const bus = this.bus;
    // With a '*' client every update is built, so message i belongs to updates[i].
    const out = this.frames;
    out.begin(updates.length);
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      this.latest.set(u.key, u);
      const subs = this.byKey.get(u.key);
      if (subs === undefined && !anyAll && bus === null) continue;
      const m = out.add(u, this.tickHead(u.key));
      if (bus !== null) this.busQueue.push({ key: u.key, ts: u.ts, payload: out.payload(m) });
      if (subs !== undefined && subs.size > 0) this.deliverToSubscribers(subs, u.key, out, m);
    }
    out.end();
    if (!anyAll || updates.length === 0) return;
    for (const c of this.clients) if (c.all) this.deliverAll(c, updates, out);
  }

  /**
   * A '*' client gets the frame's messages as runs of contiguous bytes of at most half the soft
   * limit, one write each (one for a frame of up to ~160 updates of ~800 bytes), its queue checked
   * before each run as admit() would check it before each message. Once it is over the soft
   * limit, the rest go message by message through admit() (conflation).
   */
  private deliverAll(c: TicksClient, updates: readonly TickUpdate[], out: TickFrames): void {
    const n = out.count;
    let i = 0;
    const socket = c.socket;
    if (c.pending === null && c.tcp !== null && socket.readyState === socket.OPEN) {
      const run = this.softLimit / 2;
      while (i < n) {
        if (c.corked && socket.bufferedAmount > this.softLimit) {
          c.corked = false;
          c.tcp.uncork();
        }
        if (socket.bufferedAmount > this.softLimit) break;
        const from = out.start(i);
        let j = i + 1;
        while (j < n && out.endOf(j) - from <= run) j++;
        c.tcp.write(out.buf.subarray(from, out.endOf(j - 1)));
        i = j;
      }
    }
    for (; i < n; i++) this.deliverFrame(c, updates[i].key, out.wire(i), out.payload(i));
  }

  private allCount = 0;

  add(socket: WebSocket): TicksClient {
    const c = new TicksClient(socket, this.nextId++);
    this.clients.add(c);
    socket.on('close', () => this.remove(c));
    return c;
  }

  remove(c: TicksClient): void {
    if (!this.clients.delete(c)) return;
    for (const k of c.keys) this.byKey.get(k)?.delete(c);
    if (c.all) this.allCount--;
    c.pending = null;
    c.pendingControl = 0;
  }

  /** Subscribes `c` to `keys` ('*' = every key) and sends the snapshots of what it accepted. */
  subscribe(c: TicksClient, keys: readonly string[]): SubscribeOutcome {
    const known = this.opts.feedKeys();
    const accepted: string[] = [];
    const refused: Array<{ key: string; reason: string }> = [];
    for (const key of new Set(keys)) {
      if (key === '*') {
        if (!c.all) this.allCount++;
        c.all = true;
        accepted.push(key);
      } else if (!isInstrumentKey(key)) {
        refused.push({ key, reason: `not an instrument key: ${INSTRUMENT_KEY_HINT}` });
      } else if (!known.has(key)) {
        refused.push({ key, reason: "not in the feed's subscription; add it with POST /subscriptions" });
      } else if (!c.keys.has(key) && c.keys.size >= this.maxKeys) {
        refused.push({ key, reason: `over the limit of ${this.maxKeys} keys per client` });
      } else {
        c.keys.add(key);
        let set = this.byKey.get(key);
        if (!set) this.byKey.set(key, (set = new Set()));
        set.add(c);
        accepted.push(key);
      }
    }
    // Snapshots: the latest known tick of every key named (all of them for '*').
    const snapshotKeys = accepted.includes('*') ? [...this.latest.keys()] : accepted;
    for (const key of snapshotKeys) {
      const u = this.latest.get(key);
      if (u) this.deliver(c, key, tickJson(u, true, this.symbolField(key)));
    }
    if (accepted.includes('*') && this.lastStatusTs > 0)
      this.deliver(c, MARKET_STATUS_KEY, marketStatusJson(this.segments, this.lastStatusTs));
    return { accepted, refused };
  }

  unsubscribe(c: TicksClient, keys: readonly string[]): string[] {
    const removed: string[] = [];
    for (const key of new Set(keys)) {
      if (key === '*') {
        if (c.all) this.allCount--;
        c.all = false;
        for (const k of c.keys) this.byKey.get(k)?.delete(c);
        removed.push(...c.keys, '*');
        c.keys.clear();
      } else if (c.keys.delete(key)) {
        this.byKey.get(key)?.delete(c);
        removed.push(key);
      }
    }
    return removed;
  }

  /**
   * Sends a control message (ack, error) to one client, through the same slow-client policy as
   * ticks: sent when its queue is short, else kept (under a key of its own), and the client
   * dropped once more than `maxPendingControl` replies wait unread.
   */
  sendControl(c: TicksClient, text: string): void {
    if (!this.clients.has(c)) return;
    const key = `${CONTROL_KEY_PREFIX}${++this.controlSeq}`;
    if (this.admit(c, key, text)) {
      c.socket.send(text, AS_TEXT);
      return;
    }
    if (c.pending === null) return;
    if (++c.pendingControl > this.maxPendingControl) this.drop(c, Date.now(), `${c.pendingControl} replies unread`);
  }

  /** A message built for one client (snapshot, market status): through ws.send. */
  private deliver(c: TicksClient, key: string, text: string | Buffer): void {
    if (this.admit(c, key, text)) c.socket.send(text, AS_TEXT);
  }

  /**
   * Message `m` to the clients of its key (not '*': they get the whole frame). They get a copy,
   * one for all of them: a view would keep the frame's whole Buffer (every update's message) alive
   * for as long as the message waits in a client's queue, and such a client is sent a few of the
   * frame's messages; a queue of a few hundred messages would hold as many frames.
   */
  private deliverToSubscribers(subs: Set<TicksClient>, key: string, out: TickFrames, m: number): void {
    let copy: { wire: Buffer; payload: Buffer } | null = null;
    for (const c of subs) {
      if (c.all) continue;
      if (copy === null) {
        const wire = Buffer.from(out.wire(m));
        copy = { wire, payload: wire.subarray(wire.length - out.payload(m).length) };
      }
      this.deliverFrame(c, key, copy.wire, copy.payload);
    }
  }

  /** A live update, built once for every client: its prebuilt frame straight to the socket. */
  private deliverFrame(c: TicksClient, key: string, wire: Buffer, payload: Buffer): void {
    if (!this.admit(c, key, payload)) return;
    if (c.tcp !== null) c.tcp.write(wire);
    else c.socket.send(payload, AS_TEXT);
  }

  /**
   * The slow-client policy for one message: true when it may be sent now; otherwise it is kept
   * as the client's latest for `key` (conflation), or dropped with a closed socket.
   */
  private admit(c: TicksClient, key: string, payload: string | Buffer): boolean {
    const pending = c.pending;
    if (pending !== null) {
      if (pending.has(key)) this.opts.stats.wsMessagesDropped++;
      pending.set(key, kept(payload));
      return false;
    }
    const socket = c.socket;
    if (socket.readyState !== socket.OPEN) return false;
    // Corked bytes are this frame's, not a backlog: flush them before judging the client slow.
    if (c.corked && socket.bufferedAmount > this.softLimit) {
      c.corked = false;
      c.tcp!.uncork();
    }
    if (socket.bufferedAmount > this.softLimit) {
      c.pending = new Map([[key, kept(payload)]]);
      c.slowSince = Date.now();
      this.opts.logger.warn(
        { client: c.id, queuedBytes: socket.bufferedAmount },
        '/ticks client is slow: conflating to the latest tick per key',
      );
      this.startTimer();
      return false;
    }
    return true;
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.serviceSlowClients(), 25);
    this.timer.unref();
  }

  private serviceSlowClients(): void {
    let slow = 0;
    const now = Date.now();
    for (const c of this.clients) {
      const pending = c.pending;
      if (pending === null) continue;
      const socket = c.socket;
      if (socket.bufferedAmount > this.opts.maxBufferedBytes || now - c.slowSince > this.slowTimeout) {
        this.drop(c, now);
        continue;
      }
      if (socket.bufferedAmount <= this.softLimit / 2) {
        for (const [key, text] of pending) {
          pending.delete(key);
          if (key.startsWith(CONTROL_KEY_PREFIX)) c.pendingControl--;
          socket.send(text, AS_TEXT);
          if (socket.bufferedAmount > this.softLimit) break;
        }
        if (pending.size === 0) {
          c.pending = null;
          continue;
        }
      }
      slow++;
    }
    if (slow === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private drop(c: TicksClient, now: number, why?: string): void {
    const stats = this.opts.stats;
    stats.wsClientsDropped++;
    stats.wsMessagesDropped += c.pending?.size ?? 0;
    const reason = `too slow: ${why ?? `${c.socket.bufferedAmount} bytes queued for ${now - c.slowSince} ms`}`;
    this.opts.logger.warn({ client: c.id }, `/ticks client dropped (${reason})`);
    this.remove(c);
    c.socket.close(SLOW_CLIENT_CLOSE_CODE, reason.slice(0, 120));
    // A stalled peer never answers the close handshake: do not keep its buffers waiting for it.
    setTimeout(() => c.socket.terminate(), 1000).unref();
  }

  /** Closes every client (server shutdown); one that does not answer the close handshake within `graceMs` is cut. */
  closeAll(code = 1001, reason = 'tickpipe is shutting down', graceMs = 1000): void {
    for (const c of [...this.clients]) {
      this.remove(c);
      c.socket.close(code, reason);
      setTimeout(() => c.socket.terminate(), graceMs).unref();
    }
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
