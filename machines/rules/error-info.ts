/**
 * Turning anything thrown into words and a code: the one place that does it, for the machines
 * (a rejected promise actor's `event.error`) and the data plane's logs alike.
 */
import { type ErrorCode, isErrorCode } from './error-codes.js';

/** What an error says, without its code: `err.message`, or the thrown value as text. */
export function errorMessage(err: unknown): string {
  const message = (err as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(err);
}

/** The error's stable code, or `fallback` when it carries none (a plain Error, a string...). */
export function errorCode(err: unknown, fallback: ErrorCode = 'UNEXPECTED'): ErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isErrorCode(code) ? code : fallback;
}

/** A short, loggable description: `CODE: message` when the error carries a code not already in its message. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
