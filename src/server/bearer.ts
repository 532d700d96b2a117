/**
 * The API_TOKEN check shared by the protected routes: `Authorization: Bearer <API_TOKEN>`, or
 * `?token=` where a client cannot set headers (a browser's WebSocket). Compared in constant
 * time so the token cannot be guessed byte by byte from response timings.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export function presentedToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1];
  }
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof q === 'string' && q.length > 0 ? q : undefined;
}

export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A preValidation hook: 401 (before any websocket upgrade) unless the request carries the token. */
export function requireApiToken(apiToken: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (apiToken === undefined || apiToken === '') return;
    if (tokenMatches(presentedToken(req), apiToken)) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: 'unauthorized', message: 'API_TOKEN is set: send "Authorization: Bearer <API_TOKEN>", or "?token=<API_TOKEN>" on websockets' });
  };
}
