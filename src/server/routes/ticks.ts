/**
 * WS /ticks: the tick stream for local strategy scripts (README "/ticks for strategy scripts").
 * Text JSON both ways.
 *   connect with ?keys=K1,K2 or ?keys=*; later {"action":"subscribe"|"unsubscribe","keys":[...],"requestId"?}
 *   answers {"type":"subscribed"|"unsubscribed","requestId"?,"accepted"|"removed":[...],"refused":[{key,reason}]}
 *   a bad message gets {"type":"error","message":...} and the connection stays open.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { RawData } from 'ws';
import type { Fanout, TicksClient } from '../../fanout/fanout.js';
import type { RefusedKey } from '../../../machines/rules/subscriptions.js';
import { requireToken } from '../auth.js';

const MAX_MESSAGE_BYTES = 256 * 1024;

interface ClientMessage {
  action: 'subscribe' | 'unsubscribe';
  keys: string[];
  requestId?: string | number;
}

/** Validates one client message; returns it or the reason it is not acceptable. */
export function parseClientMessage(text: string): ClientMessage | { error: string; requestId?: string | number } {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { error: 'message is not valid JSON; send {"action":"subscribe","keys":["NSE_EQ|INE002A01018"]}' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { error: 'message must be a JSON object' };
  const m = msg as Record<string, unknown>;
  const requestId = typeof m['requestId'] === 'string' || typeof m['requestId'] === 'number' ? m['requestId'] : undefined;
  const withId = requestId === undefined ? {} : { requestId };
  if (m['action'] !== 'subscribe' && m['action'] !== 'unsubscribe') {
    return { error: `unknown action ${JSON.stringify(m['action'] ?? null)}; use "subscribe" or "unsubscribe"`, ...withId };
  }
  const keys = m['keys'];
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) {
    return { error: '"keys" must be a non-empty array of instrument keys (or ["*"])', ...withId };
  }
  return { action: m['action'], keys: keys, ...withId };
}

export interface TicksRouteOptions {
  fanout: Fanout;
  /** Names (SEGMENT:TRADING_SYMBOL) → keys; a name that does not resolve is refused with help. */
  resolveInstruments?: ((entries: readonly string[]) => { keys: string[]; refused: RefusedKey[] }) | undefined;
  /** API_TOKEN: when set, the socket needs it. */
  apiToken: string | undefined;
}

const ticksQuery = {
  type: 'object',
  properties: {
    keys: { type: 'string', description: 'comma-separated instrument keys, or *' },
    token: { type: 'string', description: 'API_TOKEN, for clients that cannot set headers' },
  },
} as const;

export const ticksRoutes: FastifyPluginAsync<TicksRouteOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<JsonSchemaToTsProvider>();
  const fanout = opts.fanout;
  const resolve = opts.resolveInstruments ?? ((entries: readonly string[]) => ({ keys: [...entries], refused: [] }));
  /** Subscribes names and keys; names that do not resolve come back refused, with the reason. */
  const subscribe = (client: TicksClient, entries: string[]) => {
    const named = resolve(entries.filter((k) => k !== '*'));
    const r = fanout.subscribe(client, entries.includes('*') ? ['*', ...named.keys] : named.keys);
    return { accepted: r.accepted, refused: [...named.refused, ...r.refused] };
  };
  app.get('/ticks', { websocket: true, preValidation: requireToken(opts.apiToken), schema: { querystring: ticksQuery } }, (socket, req) => {
    const client = fanout.add(socket);
    const reply = (c: TicksClient, body: Record<string, unknown>) => fanout.sendControl(c, JSON.stringify(body));
    socket.on('error', (err) => req.log.debug({ err }, '/ticks socket error'));
    const initial =
      req.query.keys
        ?.split(',')
        .map((k) => k.trim())
        .filter(Boolean) ?? [];
    if (initial.length > 0) {
      const r = subscribe(client, initial);
      // Snapshots are already on their way; an acknowledgement only when something was refused.
      if (r.refused.length > 0) reply(client, { type: 'subscribed', accepted: r.accepted, refused: r.refused });
    }
    socket.on('message', (data: RawData) => {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength;
      if (size > MAX_MESSAGE_BYTES)
        return reply(client, { type: 'error', message: `message too large (${size} bytes, limit ${MAX_MESSAGE_BYTES})` });
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
      const msg = parseClientMessage(text);
      if ('error' in msg)
        return reply(client, {
          type: 'error',
          message: msg.error,
          ...(msg.requestId !== undefined ? { requestId: msg.requestId } : {}),
        });
      const id = msg.requestId !== undefined ? { requestId: msg.requestId } : {};
      if (msg.action === 'subscribe') {
        const r = subscribe(client, msg.keys);
        reply(client, { type: 'subscribed', ...id, accepted: r.accepted, refused: r.refused });
      } else {
        const named = resolve(msg.keys.filter((k) => k !== '*'));
        const keys = msg.keys.includes('*') ? ['*', ...named.keys] : named.keys;
        reply(client, { type: 'unsubscribed', ...id, removed: fanout.unsubscribe(client, keys) });
      }
    });
  });
};
