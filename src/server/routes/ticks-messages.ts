/**
 * What a /ticks client may send, and the checks that keep it from costing the service more than
 * it is worth: a message is at most 64 KiB and names at most 10,000 keys, a requestId is short
 * (it is echoed in every reply), and nothing a client sent is echoed back longer than a glance.
 */

/** Larger messages are answered with an error without being parsed. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Keys one message (or the connect query) may name. */
const MAX_KEYS_PER_MESSAGE = 10_000;
/** Refused keys listed one by one in a reply; the rest are counted (`refusedOmitted`). */
export const MAX_REFUSED_LISTED = 100;
const MAX_KEY_LENGTH = 200;
const MAX_REQUEST_ID_LENGTH = 100;

export interface ClientMessage {
  action: 'subscribe' | 'unsubscribe';
  keys: string[];
  requestId?: string | number;
}

export interface BadMessage {
  error: string;
  requestId?: string | number;
}

/** A short, safe rendering of something the client sent, for an error message. */
function glance(value: unknown): string {
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Checks a list of keys (from a message or the connect query); the reason, or undefined. */
export function keyListProblem(keys: readonly unknown[]): string | undefined {
  if (keys.length === 0) return '"keys" must name at least one instrument key (or "*")';
  if (keys.length > MAX_KEYS_PER_MESSAGE)
    return `too many keys (${keys.length}, at most ${MAX_KEYS_PER_MESSAGE} per message); send them in several messages`;
  for (const k of keys) {
    if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH)
      return `every key must be a string of 1 to ${MAX_KEY_LENGTH} characters, such as "NSE_EQ|INE002A01018"; got ${glance(k)}`;
  }
  return undefined;
}

/** Validates one client message; returns it or the reason it is not acceptable. */
export function parseClientMessage(text: string): ClientMessage | BadMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { error: 'message is not valid JSON; send {"action":"subscribe","keys":["NSE_EQ|INE002A01018"]}' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { error: 'message must be a JSON object' };
  const m = msg as Record<string, unknown>;
  const id = m['requestId'];
  if (
    id !== undefined &&
    !(typeof id === 'string' && id.length <= MAX_REQUEST_ID_LENGTH) &&
    !(typeof id === 'number' && Number.isFinite(id))
  )
    return { error: `"requestId" must be a number or a string of at most ${MAX_REQUEST_ID_LENGTH} characters` };
  const withId = id === undefined ? {} : { requestId: id };
  if (m['action'] !== 'subscribe' && m['action'] !== 'unsubscribe') {
    return { error: `unknown action ${glance(m['action'] ?? null)}; use "subscribe" or "unsubscribe"`, ...withId };
  }
  const keys = m['keys'];
  if (!Array.isArray(keys)) return { error: '"keys" must be an array of instrument keys (or ["*"])', ...withId };
  const problem = keyListProblem(keys);
  if (problem !== undefined) return { error: problem, ...withId };
  return { action: m['action'], keys: keys as string[], ...withId };
}
