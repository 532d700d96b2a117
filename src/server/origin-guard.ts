/**
 * Origin and Host checks, against the two ways a web page the user visits can reach a service
 * that listens on the user's own machine:
 *
 * - Cross-site websocket hijacking: browsers let any page open a websocket anywhere, with no
 *   CORS check; only the `Origin` header tells the server who asks. So a websocket upgrade, and
 *   any mutating request, whose `Origin` is present and is neither this service's own origin nor
 *   listed in ALLOWED_ORIGINS is refused. Clients that are not browsers (scripts, curl, Python)
 *   send no Origin and are not affected.
 * - DNS rebinding: a page whose own host name is made to resolve to 127.0.0.1 talks to the
 *   service as "same origin", from loopback, but its requests still carry the attacker's name in
 *   `Host`. So any request whose Host is not an IP literal, `localhost`, or a name listed in
 *   ALLOWED_HOSTS is refused (a rebinding attacker cannot choose a Host of 127.0.0.1).
 *
 * "Own origin" is the one the Host header names: the inspector page served as
 * http://localhost:3000/inspector opens ws://localhost:3000/inspect with exactly that Origin,
 * also through Docker's port mapping (the browser's Host is the mapped one), and behind a
 * TLS-terminating proxy the scheme is ignored (host and port must match).
 */
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { AccessDeniedError } from '../errors.js';

export interface OriginGuardOptions {
  /** Normalised origins (`URL.origin`) besides the service's own. */
  allowedOrigins: readonly string[];
  /** Lower-case host names besides IP literals and localhost. */
  allowedHosts: readonly string[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `host[:port]` → the host name, without brackets for IPv6, lower-case. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

function hostAllowed(name: string, allowed: ReadonlySet<string>): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return isIP(n) !== 0 || n === 'localhost' || allowed.has(n);
}

/** The `host:port` an origin names, with the scheme's default port left out as browsers do. */
function originHost(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.host : undefined;
  } catch {
    return undefined;
  }
}

/** An onRequest hook refusing, with 403, what the two rules above forbid. */
export function originGuard(opts: OriginGuardOptions) {
  const hosts = new Set(opts.allowedHosts);
  const origins = new Set(opts.allowedOrigins);
  return async (req: FastifyRequest): Promise<void> => {
    const host = req.headers.host;
    if (host !== undefined && !hostAllowed(hostName(host), hosts)) {
      throw new AccessDeniedError(
        'HOST_FORBIDDEN',
        `Host ${JSON.stringify(host.slice(0, 100))} is not an IP address or localhost; use one of those, or list the name in ALLOWED_HOSTS`,
      );
    }
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const upgrade = req.headers.upgrade?.toLowerCase() === 'websocket';
    if (!upgrade && SAFE_METHODS.has(req.method)) return;
    if (origins.has(origin)) return;
    const own = host !== undefined && originHost(origin) === normaliseHost(host);
    if (!own) {
      throw new AccessDeniedError(
        'ORIGIN_FORBIDDEN',
        `Origin ${JSON.stringify(origin.slice(0, 100))} is not this service's own; a page of another site may not ${upgrade ? 'open this websocket' : 'change the service'} (list trusted origins in ALLOWED_ORIGINS)`,
      );
    }
  };
}

/** The Host header as `URL.host` writes it (lower-case, default port 80 dropped). */
function normaliseHost(host: string): string | undefined {
  try {
    return new URL(`http://${host.trim()}`).host;
  } catch {
    return undefined;
  }
}
