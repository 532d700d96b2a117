/**
 * NATS subjects and message ids of what tickpipe publishes (README: Beyond one machine).
 *
 * `NSE_INDEX|Nifty Bank` → `tickpipe.tick.NSE_INDEX.Nifty~20Bank`: every character other than
 * `A-Z a-z 0-9 - _` becomes `~` and two uppercase hex digits per UTF-8 byte. Because `~` itself
 * is escaped, the encoding is injective (two keys never share a subject) and every token holds
 * only characters NATS allows in a subject token (no `.`, `*`, `>` or whitespace). The segment is
 * escaped the same way: for a valid key (`[A-Z][A-Z0-9_]*`) that changes nothing, and for any
 * other string it keeps the subject valid. An empty part (never a valid key) becomes `~`, which
 * no other input produces.
 */
export const SUBJECT_PREFIX = 'tickpipe';
/** What the stream holds: every subject tickpipe publishes. */
export const STREAM_SUBJECTS = `${SUBJECT_PREFIX}.>`;
export const MARKET_STATUS_SUBJECT = `${SUBJECT_PREFIX}.market_status`;

const PLAIN = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();

/** One subject token for any string (see above). */
export function subjectToken(s: string): string {
  if (s === '') return '~';
  if (PLAIN.test(s)) return s;
  let out = '';
  for (const ch of s) {
    if (PLAIN.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of encoder.encode(ch)) out += '~' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

/** `tickpipe.tick.<segment>.<rest>` for an instrument key `<segment>|<rest>`. */
export function tickSubject(key: string): string {
  const bar = key.indexOf('|');
  // A key without '|' is never valid; it still gets a subject of its own ('~' as its rest).
  const segment = bar < 0 ? key : key.slice(0, bar);
  const rest = bar < 0 ? '' : key.slice(bar + 1);
  return `${SUBJECT_PREFIX}.tick.${subjectToken(segment)}.${subjectToken(rest)}`;
}

/** The `Nats-Msg-Id` of a tick: JetStream drops a second publish of the same point. */
export function tickMsgId(key: string, ts: number): string {
  return `${key}@${ts}`;
}

/** The `Nats-Msg-Id` of a market status message. */
export function marketStatusMsgId(ts: number): string {
  return `market_status@${ts}`;
}

/**
 * Subjects per key, computed once: a subscription holds at most a few thousand keys, and the
 * per-tick path should not re-escape the same key 10,000 times a second. Bounded: past `max`
 * entries the cache starts over (keys that left the subscription do not pile up).
 */
export class SubjectCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly max = 20_000) {}

  get(key: string): string {
    let s = this.map.get(key);
    if (s === undefined) {
      if (this.map.size >= this.max) this.map.clear();
      s = tickSubject(key);
      this.map.set(key, s);
    }
    return s;
  }
}
