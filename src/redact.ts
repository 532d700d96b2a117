/**
 * Keeping secrets inside the process. Three layers, because one missed code path is enough:
 * - at the source: a URL is shown by `redactUrl` (scheme, host and port only), a request line
 *   by `redactQuery` (parameter values other than the harmless ones hidden);
 * - by path: pino's `redact` (src/logger.ts) for fields named like secrets;
 * - on the way out: `secretScrubber` replaces every secret the configuration holds (tokens, the
 *   credentials, paths and query values of configured URLs) wherever it appears in a log line,
 *   in /state, /metrics and the /inspect stream, also URL-encoded.
 */
import type { Config } from './config.js';

const REDACTED = '[redacted]';

/** A URL safe to show: its scheme, host and port; credentials, path, query and fragment hidden. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '[unparseable URL]';
  }
  const hidden = u.username !== '' || u.password !== '' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '';
  return `${u.protocol}//${u.host}${hidden ? '/…' : ''}`;
}

/** Query parameters whose values say nothing secret and help to read a request log. */
const HARMLESS_PARAMS = new Set(['keys', 'since']);

/** A request URL (`/ticks?keys=*&token=...`) with every other parameter's value hidden. */
export function redactQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq < 0 || HARMLESS_PARAMS.has(name) ? pair : `${name}=${REDACTED}`;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/** Secrets shorter than this are not searched for: they would match ordinary text. */
const MIN_SECRET_LENGTH = 6;
/** Path segments at least this long in a configured URL are treated as secrets (webhook ids). */
const MIN_SECRET_SEGMENT = 12;

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function urlSecrets(url: string | undefined, wholePathIsSecret: boolean): string[] {
  if (url === undefined) return [];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [url];
  }
  const out = [decoded(u.username), decoded(u.password), u.username, u.password];
  for (const value of u.searchParams.values()) out.push(value);
  if (u.search.length > 1) out.push(u.search.slice(1));
  if (wholePathIsSecret && u.pathname.length > 1) out.push(u.pathname);
  for (const segment of u.pathname.split('/')) if (segment.length >= MIN_SECRET_SEGMENT) out.push(segment, decoded(segment));
  if (u.username !== '' || u.password !== '' || u.search !== '' || (wholePathIsSecret && u.pathname.length > 1)) out.push(url);
  return out;
}

/** Every secret literal the configuration holds. */
export function configSecrets(config: Config): string[] {
  const s = [config.upstox.accessToken, config.influx.token, config.http.apiToken].filter((v): v is string => v !== undefined);
  s.push(
    // A webhook's path is its password (Slack, Discord, Teams...).
    ...urlSecrets(config.notify.url, true),
    ...urlSecrets(config.upstox.tokenUrl, false),
    ...urlSecrets(config.upstox.instrumentsUrl, false),
    ...urlSecrets(config.influx.url, false),
    ...urlSecrets(config.inspect, false),
  );
  return s;
}

/** A function replacing each of `secrets` (and its URL-encoded form) by [redacted] in a text. */
export function secretScrubber(secrets: readonly string[]): (text: string) => string {
  const all = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    all.add(s);
    all.add(encodeURIComponent(s));
    all.add(JSON.stringify(s).slice(1, -1));
  }
  // Longest first, so a URL is replaced whole before its parts.
  const list = [...all].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
}
