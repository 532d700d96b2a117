/**
 * Parsing the client's feed requests: `{"guid","method":"sub"|"unsub"|"change_mode",
 * "data":{"mode","instrumentKeys":[...]}}` as UTF-8 JSON in a binary (or text) frame.
 */
import { FEED_MODES, type FeedMode } from '../config.js';

export type FeedMethod = 'sub' | 'unsub' | 'change_mode';
const METHODS: readonly string[] = ['sub', 'unsub', 'change_mode'];

export interface FeedRequest {
  guid: string;
  method: FeedMethod;
  /** Absent only for unsub, which needs none. */
  mode: FeedMode | undefined;
  keys: string[];
}

export type ParseResult = { ok: true; request: FeedRequest } | { ok: false; error: string };

/** SEGMENT|id: an upper-case segment, a bar, a non-empty id. */
const KEY_PATTERN = /^[A-Z][A-Z0-9_]*\|.+$/;

export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

export function parseRequest(text: string): ParseResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'not a JSON object' };
  const { guid, method, data } = body as Record<string, unknown>;
  if (typeof method !== 'string' || !METHODS.includes(method)) {
    return { ok: false, error: `method must be one of ${METHODS.join(', ')}, got ${JSON.stringify(method)}` };
  }
  if (typeof data !== 'object' || data === null) return { ok: false, error: 'data must be an object' };
  const { mode, instrumentKeys } = data as Record<string, unknown>;
  if (!Array.isArray(instrumentKeys) || !instrumentKeys.every((k) => typeof k === 'string')) {
    return { ok: false, error: 'data.instrumentKeys must be an array of strings' };
  }
  const needsMode = method !== 'unsub';
  if ((needsMode || mode !== undefined) && !(FEED_MODES as readonly unknown[]).includes(mode)) {
    return { ok: false, error: `data.mode must be one of ${FEED_MODES.join(', ')}, got ${JSON.stringify(mode)}` };
  }
  return {
    ok: true,
    request: {
      guid: typeof guid === 'string' ? guid : '',
      method: method as FeedMethod,
      mode: mode as FeedMode | undefined,
      keys: instrumentKeys,
    },
  };
}
