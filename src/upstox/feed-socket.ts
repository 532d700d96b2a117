/**
 * The feed websocket, as a `fromCallback` actor of the connection machine. The data plane lives
 * here: every binary message is decoded and handed to the sink synchronously, counted in Stats;
 * the machine only hears lifecycle events: FEED_ALIVE (a frame decoded) and FEED_GARBAGE (frames
 * did not decode) each at most once per `aliveIntervalMs`, FEED_PONG for a pong or a server ping.
 * It pings the server when the machine says PING (the machine owns the deadline).
 * TLS certificates are verified (ws's default; never turned off).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { fromCallback } from 'xstate';
import type { FeedSocketInput, SocketCommand, SocketEvent } from '../../machines/events.js';
import { FrameDecodeError, describeError } from '../errors.js';
import { type Logger, RateLimitedLog } from '../logger.js';
import type { Stats } from '../stats.js';
import { decodeFrame } from './codec.js';
import type { DecodedFrame } from './feed-types.js';

/**
 * Where decoded frames go (the /ticks fan-out, and the storage worker, which gets `raw`: the
 * frame's bytes as received, valid only during the call). Must not throw.
 */
export interface FeedSink {
  frame(frame: DecodedFrame, raw: Uint8Array): void;
  /**
   * After `frame` returned: the frame's Upstox time and when its message arrived
   * (`performance.now()`, before decoding), for the tick path's timing (/metrics). Must not throw.
   */
  handled?(frameTs: number, arrivedAt: number): void;
}

export interface FeedSocketDeps {
  sink: FeedSink;
  stats: Stats;
  logger: Logger;
}

export function feedSocketLogic(deps: FeedSocketDeps) {
  const decodeLog = new RateLimitedLog(deps.logger, 5, 10_000);
  return fromCallback<SocketCommand, FeedSocketInput>(({ input, sendBack, receive }) => {
    const { stats, sink } = deps;
    const ws = new WebSocket(input.url, { handshakeTimeout: input.connectTimeoutMs, perMessageDeflate: false });
    const send = (e: SocketEvent) => sendBack(e);
    let closed = false;
    const segments: Record<string, string> = {};

    // FEED_ALIVE and FEED_GARBAGE: immediately the first time, then at most once per interval, so
    // that a busy feed (or a flood of garbage) costs the machine a few events per second.
    // Upstox's time of the newest decoded frame: FEED_ALIVE carries it, so a gap starts at the last frame.
    let lastFrameTs = 0;
    const alive = rateLimited(() => send(lastFrameTs > 0 ? { type: 'FEED_ALIVE', ts: lastFrameTs } : { type: 'FEED_ALIVE' }));
    const garbage = rateLimited(() => send({ type: 'FEED_GARBAGE' }));
    const aliveTimer = setInterval(() => {
      alive.tick();
      garbage.tick();
    }, input.aliveIntervalMs);
    const markAlive = () => alive.mark();

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const arrivedAt = performance.now();
      stats.framesReceived++;
      let frame: DecodedFrame;
      try {
        if (!isBinary) throw new FrameDecodeError(`text frame where protobuf was expected: ${data.toString('utf8', 0, 80)}`);
        frame = decodeFrame(data);
      } catch (err) {
        if (!(err instanceof FrameDecodeError)) throw err;
        stats.decodeErrors++;
        decodeLog.warn({ err: err.message, bytes: data.length, decodeErrors: stats.decodeErrors }, 'malformed frame skipped');
        // Not a sign of data: a socket that only sends garbage goes stale (the machine decides).
        garbage.mark();
        return;
      }
      stats.updatesReceived += frame.updates.length;
      if (frame.ts > 0) lastFrameTs = frame.ts;
      if (frame.marketStatus) {
        let changed = false;
        for (const [seg, status] of Object.entries(frame.marketStatus)) {
          if (segments[seg] !== status) {
            segments[seg] = status;
            changed = true;
          }
        }
        if (changed) send({ type: 'MARKET_STATUS', segments: { ...frame.marketStatus } });
      }
      try {
        sink.frame(frame, data);
        sink.handled?.(frame.ts, arrivedAt);
      } catch (err) {
        // A bug downstream must not kill the feed: log it (rate-limited) and keep streaming.
        decodeLog.warn({ err: describeError(err) }, 'frame sink failed');
      }
      markAlive();
    });
    // The transport is alive; neither says anything about the data.
    ws.on('ping', () => send({ type: 'FEED_PONG' }));
    ws.on('pong', () => send({ type: 'FEED_PONG' }));
    ws.on('open', () => send({ type: 'SOCKET_OPEN' }));
    ws.on('unexpected-response', (_req, res) => {
      send({ type: 'SOCKET_ERROR', message: `websocket upgrade refused with HTTP ${res.statusCode}` });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!closed) send({ type: 'SOCKET_ERROR', message: describeError(err) });
    });
    ws.on('close', (code, reason) => {
      closed = true;
      // The frames since the last FEED_ALIVE: the machine learns the exact last frame's time.
      alive.tick();
      send({ type: 'SOCKET_CLOSED', code, reason: reason.toString('utf8') });
    });

    receive((cmd) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (cmd.type === 'PING') {
        ws.ping();
        return;
      }
      const body = { guid: randomUUID(), method: cmd.method, data: { ...(cmd.mode ? { mode: cmd.mode } : {}), instrumentKeys: cmd.keys } };
      // V3 wants binary frames holding UTF-8 JSON.
      ws.send(Buffer.from(JSON.stringify(body), 'utf8'), { binary: true });
      deps.logger.info(
        { method: cmd.method, mode: cmd.mode, keys: cmd.keys.length },
        `feed: ${cmd.method} ${cmd.keys.length} keys${cmd.mode ? ` in ${cmd.mode}` : ''}`,
      );
    });

    return () => {
      clearInterval(aliveTimer);
      closed = true;
      ws.removeAllListeners('message');
      ws.removeAllListeners('close');
      ws.on('error', () => {}); // late errors of a socket we are discarding
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'reconnecting');
      else ws.terminate();
    };
  });
}

/** Calls `emit` at once on the first mark, then at most once per tick for the marks in between. */
function rateLimited(emit: () => void): { mark(): void; tick(): void } {
  let started = false;
  let pending = false;
  return {
    mark() {
      if (!started) {
        started = true;
        emit();
      } else {
        pending = true;
      }
    },
    tick() {
      if (pending) {
        pending = false;
        emit();
      }
    },
  };
}
