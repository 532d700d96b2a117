/**
 * Makes actor context, events and outputs safe and small enough to leave the process for an
 * inspector (our /inspect socket, a Stately relay). Machines are meant to hold no secrets and no
 * per-tick data, but inspection shows everything they hold, events between actors and the
 * outputs of I/O actors (a token fetch resolves with the token), so this is the last line of
 * defence. Every walk is bounded (depth, keys, items, string length): the cost per inspection
 * event does not grow with what an actor happens to hold.
 */

export const REDACTED = '[redacted]';

export interface SanitizeLimits {
  maxDepth: number;
  /** Arrays (and Sets) longer than this keep `keepItems` items and a note of how many in all. */
  maxItems: number;
  keepItems: number;
  /** Objects (and Maps) with more keys than this keep `keepKeys` keys and a note. */
  maxKeys: number;
  keepKeys: number;
  maxString: number;
}

export const DEFAULT_LIMITS: SanitizeLimits = {
  maxDepth: 6,
  maxItems: 12,
  keepItems: 5,
  maxKeys: 30,
  keepKeys: 15,
  maxString: 300,
};

/**
 * Keys whose values are credentials. `code` is here for OAuth-style one-time codes; stable error
 * codes (`INFLUX_UNAVAILABLE`, `UDAPI100050`) are kept, see `isErrorCode`.
 */
const SECRET_KEY =
  /token|secret|passw|pwd|authori[sz]ation|^auth$|cookie|api[-_]?key|credential|private[-_]?key|signature|^code$|redirect[-_]?ur[il]/i;

/** Keys that hold per-tick data (frames, ticks, batches of points): summarised, never shown. */
const PER_TICK_KEY =
  /^(ticks?|last[-_]?ticks?|latest[-_]?ticks?|ltpc?|quotes?|frames?|last[-_]?frame|feeds?|updates|batch|buffer|points|rows|lines|snapshot[-_]?cache)$/i;

/** A stable error code: upper-case letters, digits and underscores (`INFLUX_UNAVAILABLE`). */
function isErrorCode(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 64 && /^[A-Z][A-Z0-9_]*$/.test(v);
}

const JWT = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;
const BEARER = /\b(Bearer|Basic|Token)\s+[^\s"',;]+/gi;
const SECRET_QUERY = /([?&#](?:code|token|access_token|auth|key|api_key|apikey|secret|password|sig|signature)=)[^&#\s"']+/gi;
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+:[^/@\s]+@/gi;

/** Removes credentials that travel inside free text: bearer headers, JWTs, URL query secrets. */
export function scrubString(s: string, maxString = DEFAULT_LIMITS.maxString): string {
  let out = s.length > maxString * 4 ? s.slice(0, maxString * 4) : s;
  if (out.includes('eyJ')) out = out.replace(JWT, REDACTED);
  out = out.replace(BEARER, `$1 ${REDACTED}`).replace(SECRET_QUERY, `$1${REDACTED}`).replace(URL_USERINFO, `$1${REDACTED}@`);
  return out.length > maxString ? `${out.slice(0, maxString)}… (${s.length} chars)` : out;
}

function secretValue(key: string, v: unknown): unknown {
  // Counts and flags under a secret-looking key (`tokenRefreshes: 3`, `hasToken: true`) say
  // nothing secret and help debugging; anything else is replaced.
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return v;
  if (key.toLowerCase() === 'code' && isErrorCode(v)) return v;
  return REDACTED;
}

function perTickSummary(v: unknown): unknown {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return v;
  const n = Array.isArray(v) ? v.length : v instanceof Map || v instanceof Set ? v.size : undefined;
  return n === undefined ? '[per-tick data omitted]' : `[per-tick data omitted: ${n} items]`;
}

function describeErrorValue(err: Error, limits: SanitizeLimits, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: scrubString(err.message, limits.maxString) };
  const e = err as Error & { code?: unknown; status?: unknown; kind?: unknown };
  if (e.code !== undefined) out.code = secretValue('code', e.code);
  if (typeof e.status === 'number') out.status = e.status;
  if (typeof e.kind === 'string') out.kind = e.kind;
  if (err.cause !== undefined && depth < limits.maxDepth) out.cause = sanitizeValue(err.cause, limits, depth + 1);
  return out;
}

function sanitizeArray(items: readonly unknown[], total: number, limits: SanitizeLimits, depth: number): unknown[] {
  const keep = total > limits.maxItems ? limits.keepItems : total;
  const out: unknown[] = [];
  for (let i = 0; i < keep; i++) out.push(sanitizeValue(items[i], limits, depth + 1));
  if (keep < total) out.push(`… ${total - keep} more (${total} in all)`);
  return out;
}

function sanitizeEntries(
  entries: Iterable<[string, unknown]>,
  total: number,
  limits: SanitizeLimits,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keep = total > limits.maxKeys ? limits.keepKeys : total;
  let i = 0;
  for (const [k, v] of entries) {
    if (i++ >= keep) break;
    if (typeof v === 'function') continue;
    if (SECRET_KEY.test(k)) out[k] = secretValue(k, v);
    else if (PER_TICK_KEY.test(k)) out[k] = perTickSummary(v);
    else out[k] = sanitizeValue(v, limits, depth + 1);
  }
  if (keep < total) out['…'] = `${total - keep} more keys (${total} in all)`;
  return out;
}

function looksLikeActorRef(v: object): v is { id?: unknown; sessionId: string; send: unknown } {
  return typeof (v as { sessionId?: unknown }).sessionId === 'string' && typeof (v as { send?: unknown }).send === 'function';
}

/** A JSON-safe, credential-free, bounded copy of `value`. */
export function sanitizeValue(value: unknown, limits: SanitizeLimits = DEFAULT_LIMITS, depth = 0): unknown {
  switch (typeof value) {
    case 'string':
      return scrubString(value, limits.maxString);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (depth >= limits.maxDepth) return Array.isArray(obj) ? `[array of ${obj.length}]` : '[object]';
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (obj instanceof Error) return describeErrorValue(obj, limits, depth);
  if (Array.isArray(obj)) return sanitizeArray(obj, obj.length, limits, depth);
  if (obj instanceof Set) return sanitizeArray(takeFirst<unknown>(obj.values(), limits.maxItems + 1), obj.size, limits, depth);
  if (obj instanceof Map) {
    const entries = takeFirst(obj.entries(), limits.maxKeys + 1) as Array<[unknown, unknown]>;
    return sanitizeEntries(
      entries.map(([k, v]) => [String(k), v]),
      obj.size,
      limits,
      depth,
    );
  }
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return `[binary ${(obj as ArrayBuffer).byteLength} bytes]`;
  if (looksLikeActorRef(obj)) return { actor: typeof obj.id === 'string' ? obj.id : obj.sessionId };
  const keys = Object.keys(obj);
  const rec = obj as Record<string, unknown>;
  return sanitizeEntries(
    takeFirst(
      (function* () {
        for (const k of keys) yield [k, rec[k]] as [string, unknown];
      })(),
      limits.maxKeys + 1,
    ),
    keys.length,
    limits,
    depth,
  );
}

function takeFirst<T>(it: Iterator<T>, n: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** An XState event, sanitised; its `type` is always kept as is (it names the transition). */
export function sanitizeEvent(event: unknown, limits: SanitizeLimits = DEFAULT_LIMITS): { type: string; [k: string]: unknown } {
  const type = typeof (event as { type?: unknown } | null)?.type === 'string' ? (event as { type: string }).type : String(event);
  const clean = sanitizeValue(event, limits);
  const rest = clean && typeof clean === 'object' && !Array.isArray(clean) ? (clean as Record<string, unknown>) : {};
  // XState's own events carry I/O results (`xstate.done.actor.*` output, `xstate.promise.resolve`
  // data), and a bare string there may be a secret: a token fetch resolves with the token.
  if (type.startsWith('xstate.')) {
    if (typeof rest.output === 'string') rest.output = REDACTED;
    if (typeof rest.data === 'string') rest.data = REDACTED;
  }
  return { ...rest, type };
}
