/**
 * INSTRUMENTS_URL: GET → {"instruments": [...]}, validated like INSTRUMENTS: each entry an
 * instrument key (`SEGMENT|id`) or a name (`SEGMENT:TRADING_SYMBOL`) resolved against the
 * instrument master. The list is fetched at run time, so a name that does not resolve cannot be
 * a start-up ConfigError: it is refused alone (logged once, with close matches) and the rest streams.
 */
import { isInstrumentKey } from '../../machines/rules/instrument-key.js';
import type { RefusedKey } from '../../machines/rules/subscriptions.js';
import { TickpipeError, TransientHttpError } from '../errors.js';
import { isInstrumentName } from '../instruments/names.js';

/** Resolves names to keys (keys pass through); one refusal per name that does not resolve. */
export type ResolveNames = (entries: readonly string[]) => Promise<{ keys: string[]; refused: RefusedKey[] }>;

export async function fetchInstruments(
  url: string,
  timeoutMs: number,
  names?: { resolve: ResolveNames; refused: (refused: RefusedKey[]) => void },
): Promise<string[]> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new TransientHttpError(
      'INSTRUMENTS_FETCH_FAILED',
      `INSTRUMENTS_URL is unreachable: ${(err as Error).message}`,
      undefined,
      undefined,
      { cause: err },
    );
  }
  const text = await res.text();
  if (!res.ok)
    throw new TransientHttpError('INSTRUMENTS_FETCH_FAILED', `INSTRUMENTS_URL answered ${res.status}: ${text.slice(0, 200)}`, res.status);
  let list: unknown;
  try {
    list = (JSON.parse(text) as { instruments?: unknown }).instruments;
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || !list.every((k) => typeof k === 'string')) {
    throw new TickpipeError(
      'INSTRUMENTS_FETCH_FAILED',
      'INSTRUMENTS_URL did not answer {"instruments":["SEGMENT|id" or "SEGMENT:TRADING_SYMBOL", ...]}',
    );
  }
  const entries = [...new Set(list.map((k) => k.trim()).filter(Boolean))];
  const bad = entries.filter((e) => !isInstrumentKey(e) && !(names && isInstrumentName(e)));
  if (entries.length === 0 || bad.length > 0) {
    throw new TickpipeError(
      'INSTRUMENTS_FETCH_FAILED',
      `INSTRUMENTS_URL listed invalid entries ${JSON.stringify(bad.slice(0, 5))} (or none); each must be SEGMENT|id${
        names ? ' or SEGMENT:TRADING_SYMBOL' : ''
      }`,
    );
  }
  if (!names || !entries.some(isInstrumentName)) return entries;
  const { keys, refused } = await names.resolve(entries);
  if (refused.length > 0) names.refused(refused);
  // Nothing left to stream: fail like an empty list, so the connection fetches again later.
  if (keys.length === 0) {
    throw new TickpipeError(
      'INSTRUMENTS_FETCH_FAILED',
      `INSTRUMENTS_URL listed no instrument that resolves: ${refused
        .slice(0, 3)
        .map((r) => r.reason)
        .join('; ')}`,
    );
  }
  return [...new Set(keys)];
}
