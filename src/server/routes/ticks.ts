/**
 * WS /ticks: the tick stream for local strategy scripts (README "/ticks for strategy scripts").
 * Text JSON both ways.
 *   connect with ?keys=K1,K2 or ?keys=*; later {"action":"subscribe"|"unsubscribe","keys":[...],"requestId"?}
 *   answers {"type":"subscribed"|"unsubscribed","requestId"?,"accepted"|"removed":[...],"refused":[{key,reason}]}
 *   a bad message gets {"type":"error","message":...} and the connection stays open, until a
 *   client has sent more than `maxBadMessages` of them within `badMessageWindowMs`: then it is
 *   closed with 1008 (policy violation). At most `maxClients` clients at once; the next is
 *   closed with 1013 (try again later) as soon as it opens.
 */
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Fanout, SubscribeOutcome, TicksClient } from '../../fanout/fanout.js';
import type { RefusedKey } from '../../../machines/rules/subscriptions.js';
import { requireToken } from '../auth.js';
import { MAX_MESSAGE_BYTES, MAX_REFUSED_LISTED, keyListProblem, parseClientMessage } from './ticks-messages.js';

const POLICY_CLOSE_CODE = 1008;
const TRY_AGAIN_LATER_CLOSE_CODE = 1013;

export interface TicksRouteOptions {
  fanout: Fanout;
  /** API_TOKEN: when set, the socket needs it. */
  apiToken: string | undefined;
  /** WS_MAX_CLIENTS. */
  maxClients: number;
  /** Bad messages tolerated within the window before the client is closed (default 20 in 10 s). */
  maxBadMessages?: number;
  badMessageWindowMs?: number;
  /** Names (SEGMENT:TRADING_SYMBOL) → keys; a name that does not resolve is refused with help. */
  resolveInstruments?: ((entries: readonly string[]) => { keys: string[]; refused: RefusedKey[] }) | undefined;
}

const ticksQuery = {
  type: 'object',
  properties: {
    // A repeated parameter arrives as an array: accepted here so the client gets an error reply
    // over the open socket rather than a refused upgrade.
    keys: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    token: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  },
} as const;

/** An ack's `refused` list, at most MAX_REFUSED_LISTED long, and how many were left out. */
function refusedPart(r: SubscribeOutcome): Record<string, unknown> {
  if (r.refused.length <= MAX_REFUSED_LISTED) return { refused: r.refused };
  return { refused: r.refused.slice(0, MAX_REFUSED_LISTED), refusedOmitted: r.refused.length - MAX_REFUSED_LISTED };
}

function closeFirmly(socket: WebSocket, code: number, reason: string): void {
  socket.close(code, reason);
  // A peer that does not read never completes the close handshake.
  setTimeout(() => socket.terminate(), 1000).unref();
}

export const ticksRoutes: FastifyPluginAsync<TicksRouteOptions> = async (fastify, opts) => {
  const resolve = opts.resolveInstruments ?? ((entries: readonly string[]) => ({ keys: [...entries], refused: [] }));
  /** '*' passes through; names resolve to keys, the rest come back refused with the reason. */
  const resolveAll = (entries: readonly string[]) => {
    const named = resolve(entries.filter((k) => k !== '*'));
    return { keys: entries.includes('*') ? ['*', ...named.keys] : named.keys, refused: named.refused };
  };
  const app = fastify.withTypeProvider<JsonSchemaToTsProvider>();
  const fanout = opts.fanout;
  const maxBad = opts.maxBadMessages ?? 20;
  const badWindowMs = opts.badMessageWindowMs ?? 10_000;
  app.get('/ticks', { websocket: true, preValidation: requireToken(opts.apiToken), schema: { querystring: ticksQuery } }, (socket, req) => {
    socket.on('error', (err) => req.log.debug({ err }, '/ticks socket error'));
    if (fanout.clientCount >= opts.maxClients) {
      req.log.warn({ clients: fanout.clientCount }, '/ticks client refused: WS_MAX_CLIENTS reached');
      closeFirmly(socket, TRY_AGAIN_LATER_CLOSE_CODE, `too many /ticks clients (WS_MAX_CLIENTS=${opts.maxClients}); try again later`);
      return;
    }
    const client = fanout.add(socket);
    const reply = (c: TicksClient, body: Record<string, unknown>) => fanout.sendControl(c, JSON.stringify(body));
    let badCount = 0;
    let badSince = 0;
    const bad = (message: string, requestId?: string | number) => {
      const now = Date.now();
      if (now - badSince > badWindowMs) {
        badSince = now;
        badCount = 0;
      }
      if (++badCount > maxBad) {
        req.log.warn({ client: client.id }, `/ticks client closed: more than ${maxBad} bad messages in ${badWindowMs} ms`);
        fanout.remove(client);
        closeFirmly(socket, POLICY_CLOSE_CODE, `more than ${maxBad} bad messages in ${badWindowMs / 1000} s`);
        return;
      }
      reply(client, { type: 'error', message, ...(requestId !== undefined ? { requestId } : {}) });
    };
    const subscribe = (entries: readonly string[], id: Record<string, unknown>, ackAlways: boolean) => {
      // Names become keys first; one that does not resolve is refused like an unknown key, with help.
      const keys = resolveAll(entries);
      const subscribed = fanout.subscribe(client, keys.keys);
      const r = { accepted: subscribed.accepted, refused: [...keys.refused, ...subscribed.refused] };
      if (r.accepted.length === 0 && r.refused.length > 0) {
        const why = r.refused[0];
        bad(
          `no key accepted (${r.refused.length} refused; ${JSON.stringify(why.key.slice(0, 60))}: ${why.reason})`,
          id['requestId'] as string | number | undefined,
        );
        return;
      }
      // At connect, snapshots are already on their way; an acknowledgement only when something was refused.
      if (ackAlways || r.refused.length > 0) reply(client, { type: 'subscribed', ...id, accepted: r.accepted, ...refusedPart(r) });
    };

    const keysParam = req.query.keys;
    if (Array.isArray(keysParam)) bad('"keys" was given more than once; give it once, comma-separated: ?keys=K1,K2');
    else if (keysParam !== undefined) {
      const initial = keysParam
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
      const problem = initial.length > 0 ? keyListProblem(initial) : undefined;
      if (problem !== undefined) bad(`?keys: ${problem}`);
      else if (initial.length > 0) subscribe(initial, {}, false);
    }

    socket.on('message', (data: RawData) => {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      if (size > MAX_MESSAGE_BYTES)
        return bad(`message too large (${size} bytes, limit ${MAX_MESSAGE_BYTES}); send fewer keys per message`);
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
      const msg = parseClientMessage(text);
      if ('error' in msg) return bad(msg.error, msg.requestId);
      const id = msg.requestId !== undefined ? { requestId: msg.requestId } : {};
      if (msg.action === 'subscribe') subscribe(msg.keys, id, true);
      else reply(client, { type: 'unsubscribed', ...id, removed: fanout.unsubscribe(client, resolveAll(msg.keys).keys) });
    });
  });
};
