/**
 * The service's pino logger. One root, one child per actor (`{ actor: 'writer' }`); Fastify
 * uses the same instance. Secrets are redacted by path so that no code path can print them.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  'accessToken',
  'access_token',
  'apiToken',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.apiToken',
  'req.headers.authorization',
  'headers.authorization',
  'config.upstox.accessToken',
  'config.influx.token',
  'config.http.apiToken',
];

/**
 * `scrub` (src/redact.ts secretScrubber) is applied to every serialised line before it is
 * written: the last line of defence for secrets inside messages and URLs, which `redact` paths
 * cannot reach.
 */
export function createLogger(level: string, destination?: pino.DestinationStream, scrub?: (line: string) => string): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'tickpipe' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (!scrub) return destination ? pino(options, destination) : pino(options);
  const out = destination ?? pino.destination({ dest: 1, sync: true });
  return pino(options, { write: (line: string) => out.write(scrub(line)) });
}

/**
 * Logs at most `perInterval` messages per `intervalMs` and then one summary of how many were
 * suppressed: for per-frame problems (malformed frames) that must be visible but never flood.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;
  constructor(
    private readonly log: Logger,
    private readonly perInterval = 5,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(obj: object, msg: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) {
        this.log.warn(
          { suppressed: this.suppressed },
          `${this.suppressed} similar messages suppressed in the last ${this.intervalMs / 1000}s`,
        );
      }
      this.windowStart = t;
      this.inWindow = 0;
      this.suppressed = 0;
    }
    if (this.inWindow < this.perInterval) {
      this.inWindow++;
      this.log.warn(obj, msg);
    } else {
      this.suppressed++;
    }
  }
}
