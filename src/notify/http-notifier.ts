/**
 * The notification POST (README "Notifications"). A slow endpoint never blocks anything:
 * every request has a timeout, and the notifier actor decides what a failure means.
 */
import { fromPromise } from 'xstate';
import type { LandedSummary } from '../../machines/events.js';
import { type NotifierInput, type NotifyFailure, notifierMachine } from '../../machines/notifier.js';
import type { Config } from '../config.js';
import { TickpipeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactUrl } from '../redact.js';

export const NOTIFY_MESSAGE = 'Data feed has been successfully transferred to InfluxDB';

export class NotifyError extends TickpipeError implements NotifyFailure {
  readonly kind: 'transient' | 'permanent';
  readonly status: number | undefined;
  constructor(kind: 'transient' | 'permanent', message: string, status?: number, options?: ErrorOptions) {
    super('NOTIFY_FAILED', message, options);
    this.kind = kind;
    this.status = status;
  }
}

export function notificationBody(landed: LandedSummary): Record<string, unknown> {
  return {
    message: NOTIFY_MESSAGE,
    points: landed.points,
    firstTs: landed.firstTs,
    lastTs: landed.lastTs,
    keys: landed.keys,
    // Readable forms for humans reading a webhook log.
    firstTime: new Date(landed.firstTs).toISOString(),
    lastTime: new Date(landed.lastTs).toISOString(),
  };
}

/**
 * NOTIFY_URL split for fetch, which refuses URLs with credentials: `user:pass@` becomes a Basic
 * Authorization header. `shown` is what messages may print (no credentials, path or query).
 */
function notifyTarget(url: string): { href: string; headers: Record<string, string>; shown: string } {
  const u = new URL(url);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (u.username !== '' || u.password !== '') {
    const basic = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
    headers['authorization'] = `Basic ${Buffer.from(basic, 'utf8').toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  return { href: u.href, headers, shown: `NOTIFY_URL (${redactUrl(url)})` };
}

/** One POST. 2xx: done. 408/429/5xx/network/timeout: transient. Other 4xx: permanent. */
export async function postNotification(notifyUrl: string, landed: LandedSummary, timeoutMs: number): Promise<void> {
  const { href, headers, shown: url } = notifyTarget(notifyUrl);
  let res: Response;
  try {
    res = await fetch(href, {
      method: 'POST',
      headers,
      body: JSON.stringify(notificationBody(landed)),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new NotifyError(
      'transient',
      timedOut ? `no answer from ${url} within ${timeoutMs} ms` : `cannot reach ${url}: ${describeCause(err)}`,
      undefined,
      { cause: err },
    );
  }
  // Drain the body so the keep-alive connection is reusable; its text helps the error message.
  const text = (await res.text().catch(() => '')).slice(0, 200);
  if (res.ok) return;
  const permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
  throw new NotifyError(
    permanent ? 'permanent' : 'transient',
    `${url} answered ${res.status}${text ? `: ${text}` : ''}${permanent ? ' (check NOTIFY_URL; not retried)' : ''}`,
    res.status,
  );
}

/** fetch's own error says little ("fetch failed"); its cause says why (ECONNREFUSED...). */
function describeCause(err: unknown): string {
  const e = err as Error & { cause?: { message?: unknown } };
  return typeof e.cause?.message === 'string' ? `${e.message} (${e.cause.message})` : e.message;
}

export function notifierInput(config: Pick<Config, 'notify'>): NotifierInput {
  return {
    enabled: config.notify.url !== undefined,
    intervalMs: config.notify.intervalS * 1000,
    retryMs: config.notify.retryS * 1000,
    now: Date.now,
  };
}

/** The notifier machine with its I/O: the POST. */
export function provideNotifier(deps: { url: string | undefined; timeoutMs: number; logger: Logger }) {
  return notifierMachine.provide({
    actors: {
      notify: fromPromise<void, LandedSummary>(async ({ input }) => {
        if (!deps.url) throw new NotifyError('permanent', 'NOTIFY_URL is not set');
        await postNotification(deps.url, input, deps.timeoutMs);
        deps.logger.info({ points: input.points, firstTs: input.firstTs, lastTs: input.lastTs, keys: input.keys.length }, 'notified');
      }),
    },
    actions: {
      reportPermanentFailure: (_, params) => {
        deps.logger.error({ err: params.error }, `notification rejected permanently: ${params.error.message}`);
      },
    },
  });
}
