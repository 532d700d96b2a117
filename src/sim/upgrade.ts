/**
 * Websocket upgrades on the feed path. The real feed accepts the one-time redirect URI from
 * authorize (`?code=`), or a direct connection with `Authorization: Bearer`; we accept both.
 * Refusals are plain HTTP answers written on the raw socket, as a proxy in front of the real
 * feed would send them, so the client sees its handshake fail with that status.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer, WebSocket } from 'ws';
import type { SimContext } from './context.js';
import { FEED_PATH, INVALID_TOKEN, upstoxError } from './http-routes.js';
import { bearerToken } from './tokens.js';

const REASONS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

function refuse(ctx: SimContext, socket: Duplex, status: number, body: object, why: string): void {
  ctx.stats.upgradesRefused++;
  ctx.log.info({ status, why }, 'feed upgrade refused');
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** Why the upgrade must be refused, or null to accept it. */
function check(ctx: SimContext, req: IncomingMessage): { status: number; body: object; why: string } | null {
  const url = new URL(req.url ?? '/', 'http://sim');
  if (url.pathname !== FEED_PATH) return { status: 404, body: upstoxError('UDAPI100060', 'no such resource'), why: `path ${url.pathname}` };
  if (ctx.faults.refusingConnections)
    return { status: 503, body: upstoxError('UDAPI100500', 'Service Unavailable'), why: 'refusing connections' };
  const code = url.searchParams.get('code');
  if (code !== null) {
    const result = ctx.tokens.redeem(code);
    if (result === 'ok') return null;
    return {
      status: 403,
      body: upstoxError(
        'UDAPI100051',
        `authorized redirect code ${result === 'expired' ? 'expired' : 'unknown or already used'}; authorize again`,
      ),
      why: `code ${result}`,
    };
  }
  if (ctx.tokens.isValid(bearerToken(req.headers.authorization))) return null;
  return { status: 401, body: INVALID_TOKEN, why: 'no code and no valid bearer token' };
}

export function handleUpgrade(
  ctx: SimContext,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  onConnection: (ws: WebSocket) => void,
): void {
  socket.on('error', (err) => ctx.log.debug({ err }, 'upgrade socket error'));
  const refusal = check(ctx, req);
  if (refusal) {
    refuse(ctx, socket, refusal.status, refusal.body, refusal.why);
    return;
  }
  wss.handleUpgrade(req, socket, head, onConnection);
}
