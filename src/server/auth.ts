/**
 * Who may do what. With API_TOKEN set, /ticks, /inspect and every mutating route need it
 * (`Authorization: Bearer <token>`, or `?token=` on websockets, which cannot set headers from a
 * browser). Without it, mutating routes are for loopback clients only. A refusal is thrown as an
 * AccessDeniedError, which the app's error handler answers (401 or 403, the API's one body shape).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AccessDeniedError } from '../errors.js';

/** Constant time, also in the length: both sides are hashed first, so timings reveal nothing. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function presentedToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m) return m[1];
  }
  const q = (req.query as Record<string, unknown> | undefined)?.['token'];
  return typeof q === 'string' && q.length > 0 ? q : undefined;
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || address?.startsWith('127.') === true;
}

/** preValidation hook for routes that need the API token when one is configured. */
export function requireToken(apiToken: string | undefined) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!apiToken) return;
    const got = presentedToken(req);
    if (got === undefined)
      throw new AccessDeniedError('API_TOKEN_MISSING', 'this endpoint needs Authorization: Bearer <API_TOKEN> (or ?token= on a websocket)');
    if (!sameSecret(got, apiToken)) throw new AccessDeniedError('API_TOKEN_WRONG', 'wrong API token');
  };
}

/** preValidation hook for mutating routes: the token when configured, else loopback only. */
export function requireMutationRight(apiToken: string | undefined) {
  const tokenCheck = requireToken(apiToken);
  return async (req: FastifyRequest): Promise<void> => {
    if (apiToken) return tokenCheck(req);
    if (!isLoopback(req.ip))
      throw new AccessDeniedError(
        'REMOTE_MUTATION_FORBIDDEN',
        'without API_TOKEN only loopback clients may change the service; set API_TOKEN to allow remote clients',
      );
  };
}
