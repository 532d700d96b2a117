/** INSTRUMENTS_URL: GET → {"instruments": [...]}, validated like INSTRUMENTS. */
import { invalidInstrumentKeys } from '../../machines/rules/instrument-key.js';
import { TickpipeError, TransientHttpError } from '../errors.js';

export async function fetchInstruments(url: string, timeoutMs: number): Promise<string[]> {
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
    throw new TickpipeError('INSTRUMENTS_FETCH_FAILED', 'INSTRUMENTS_URL did not answer {"instruments":["SEGMENT|id", ...]}');
  }
  const keys = [...new Set(list.map((k) => k.trim()).filter(Boolean))];
  const bad = invalidInstrumentKeys(keys);
  if (keys.length === 0 || bad.length > 0) {
    throw new TickpipeError(
      'INSTRUMENTS_FETCH_FAILED',
      `INSTRUMENTS_URL listed invalid keys ${JSON.stringify(bad.slice(0, 5))} (or none); each must be SEGMENT|id`,
    );
  }
  return keys;
}
