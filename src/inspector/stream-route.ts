/**
 * `WS /inspect`: the actors' inspection events in the @statelyai/inspect format, one JSON text
 * message each. A client first gets the hub's replay (every live actor, its latest snapshot,
 * recent history), then every event as it happens. Needs @fastify/websocket registered by the
 * app. A client that cannot keep up is disconnected (it reconnects and gets a fresh replay)
 * rather than allowed to grow the process's memory. At most `maxClients` clients at once.
 */
import type {} from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import type { InspectionHub } from './hub.js';
import { requireToken } from '../server/auth.js';

export interface InspectorStreamOptions {
  hub: InspectionHub;
  /** API_TOKEN: when set, the socket needs it. */
  apiToken?: string | undefined;
  /** Bytes queued to one client before it is dropped (inspection traffic is a few KB/s). */
  maxBufferedBytes?: number;
  /** WS_MAX_CLIENTS: clients at once; the next is closed with 1013 (default 256). */
  maxClients?: number;
  /** Replaces configured secrets in each message (src/redact.ts); events are sanitised already. */
  scrub?: ((text: string) => string) | undefined;
}

export const inspectorStreamRoute: FastifyPluginAsync<InspectorStreamOptions> = async (app, opts) => {
  const limit = opts.maxBufferedBytes ?? 1 << 20;
  const maxClients = opts.maxClients ?? 256;
  const scrub = opts.scrub ?? ((text: string) => text);
  let clients = 0;
  app.get('/inspect', { websocket: true, preValidation: requireToken(opts.apiToken) }, (socket: WebSocket, req) => {
    socket.on('error', (err) => req.log.debug({ err }, '/inspect socket error'));
    if (clients >= maxClients) {
      req.log.warn({ clients }, '/inspect client refused: WS_MAX_CLIENTS reached');
      socket.close(1013, `too many /inspect clients (WS_MAX_CLIENTS=${maxClients}); try again later`);
      setTimeout(() => socket.terminate(), 1000).unref();
      return;
    }
    clients++;
    socket.on('close', () => clients--);
    // The stream is one way: what a client sends is read (ws bounds each message) and ignored,
    // so it can never queue a reply.
    let dropped = false;
    const send = (json: string): void => {
      if (dropped || socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > limit) {
        dropped = true;
        req.log.warn({ buffered: socket.bufferedAmount, limit }, '/inspect client is not reading; disconnecting it');
        socket.terminate();
        return;
      }
      socket.send(scrub(json));
    };
    for (const ev of opts.hub.replay()) send(JSON.stringify(ev));
    const unsubscribe = opts.hub.subscribe((_ev, json) => send(json));
    socket.on('close', unsubscribe);
  });
};
