/**
 * Writing prepared line protocol to InfluxDB through @influxdata/influxdb-client's transport,
 * with none of the client's own retrying or buffering: the caller (the write path, steered by the
 * writer machine) owns the outcome of every request. Why not WriteApi: its retry buffer is in
 * memory only and drops the oldest lines past its limits, close() discards what it could not
 * write, and it reads Retry-After as milliseconds.
 */
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { HttpError, InfluxDB, type Transport } from '@influxdata/influxdb-client';
import { errorMessage } from '../../machines/rules/error-info.js';
import { retryAfterSeconds } from '../upstox/authorize.js';

export type WriteOutcome =
  | { kind: 'ok' }
  /** Network error, timeout, 5xx, 429: InfluxDB may come back; the batch stays spooled. */
  | { kind: 'unavailable'; status?: number; retryAfterS?: number; message: string }
  /** 401/403/404: token, permission or bucket; retrying will not help until someone fixes it. */
  | { kind: 'unauthorized' | 'forbidden' | 'bucketNotFound'; status: number; message: string }
  /** 400 about the request, not its lines (no org, unknown bucket id, bad precision): nothing a split can fix. */
  | { kind: 'badRequest'; status: number; message: string }
  /** 400/422: some lines were rejected; 413: too large. The caller splits. */
  | { kind: 'rejected' | 'tooLarge'; status: number; message: string };

/** What the write path needs of a client (a fake in the property tests). */
export interface WriteClient {
  /** One request with this line protocol (a Buffer: the batch's bytes as built or spooled). */
  write(body: Buffer | string): Promise<WriteOutcome>;
  probe(): Promise<void>;
  close(): void;
}

/**
 * A 400 whose message is about lines (InfluxDB 1.x, 2.x and 3 wordings). Any other 400 is about
 * the request: splitting it would dead-letter every valid point (INFLUX_ORG missing answers
 * `400 Please provide either orgID or org` to every write), so it stops the writer instead.
 */
const LINE_ERROR =
  /unable to parse|failed to parse|parse error|parsing failed|partial write|field type conflict|conflicting field|invalid (field|tag|measurement|timestamp|number|boolean|line)|missing (field|tag|measurement)|beyond retention|line \d+|max-values-per-tag|timestamp out of range/i;

export function isLineError(message: string): boolean {
  return LINE_ERROR.test(message);
}

export interface InfluxTarget {
  url: string;
  token: string | undefined;
  org: string;
  bucket: string;
  timeoutMs: number;
}

export class InfluxWriteClient implements WriteClient {
  private readonly transport: Transport;
  private readonly writeUrl: URL;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;
  private readonly post: typeof httpRequest;

  constructor(private readonly target: InfluxTarget) {
    // Keep-alive with a small pool: one write in flight plus a probe.
    const AgentClass = target.url.startsWith('https:') ? HttpsAgent : HttpAgent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: 4, keepAliveMsecs: 10_000 });
    const influx = new InfluxDB({
      url: target.url,
      ...(target.token ? { token: target.token } : {}),
      timeout: target.timeoutMs,
      transportOptions: { agent: this.agent },
    });
    this.transport = influx.transport;
    // Microseconds: ms timestamps plus an in-millisecond sequence (see line-protocol.ts).
    const q = new URLSearchParams({ org: target.org, bucket: target.bucket, precision: 'us' });
    // Below INFLUX_URL's own path, as the client's transport does (a proxy may serve InfluxDB under a prefix).
    const base = new URL(target.url);
    this.writeUrl = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v2/write?${q.toString()}`, base);
    this.headers = { 'content-type': 'text/plain; charset=utf-8', ...(target.token ? { authorization: `Token ${target.token}` } : {}) };
    this.post = target.url.startsWith('https:') ? httpsRequest : httpRequest;
  }

  /** One write request; never throws, always classifies. */
  async write(body: Buffer | string): Promise<WriteOutcome> {
    try {
      await this.send(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
      return { kind: 'ok' };
    } catch (err) {
      return classify(err, this.target.timeoutMs);
    }
  }

  /**
   * POSTs the bytes as they are. Why not the client's transport: it takes the body as a string and
   * converts it to bytes again, a copy and a text conversion per request of a batch that is bytes
   * already (the spool's BLOB). Failures become the client's HttpError, so `classify` reads them
   * the same way as the probe's.
   */
  private send(body: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = this.post(
        this.writeUrl,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': String(body.length) },
          // Bounds the whole request, answer included (a socket timeout alone would not).
          signal: AbortSignal.timeout(this.target.timeoutMs),
        },
        (res) => {
          const status = res.statusCode ?? 600;
          if (status < 300) {
            res.on('error', reject);
            res.on('end', () => {
              // Resolved only once the body is written (or the socket gone): the caller may then
              // build a new batch in its memory (src/spool/spool.ts giveBack), and a server that
              // answers before reading everything must not see those bytes.
              if (req.writableFinished) resolve();
              else {
                req.once('finish', () => resolve());
                req.once('close', () => resolve());
              }
            });
            res.resume();
            return;
          }
          readError(res, status).then(reject, reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** /health (InfluxDB 2, VictoriaMetrics), else /ping (older servers). Throws when neither answers 2xx. */
  async probe(): Promise<void> {
    const timeout = Math.min(this.target.timeoutMs, 5000);
    try {
      await this.transport.request('/health', '', { method: 'GET', signal: AbortSignal.timeout(timeout) });
      return;
    } catch (err) {
      if (!(err instanceof HttpError && err.statusCode === 404)) throw describe(err, timeout);
    }
    try {
      await this.transport.request('/ping', '', { method: 'GET', signal: AbortSignal.timeout(timeout) });
    } catch (err) {
      throw describe(err, timeout);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The answer to a failed write, as the client's HttpError (its body capped: an error page can be large). */
async function readError(res: IncomingMessage, status: number): Promise<HttpError> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) if (text.length < 64 * 1024) text += chunk as string;
  const header = (name: string): string | undefined => {
    const v = res.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return new HttpError(status, res.statusMessage, text, header('retry-after'), header('content-type'), undefined, res.headers);
}

function describe(err: unknown, timeoutMs: number): Error {
  const o = classify(err, timeoutMs);
  return new Error(o.kind === 'ok' ? 'ok' : o.message);
}

function serverMessage(err: HttpError): string {
  const json = err.json as { message?: unknown; error?: unknown } | undefined;
  // InfluxDB 2 and 3 say `message`; InfluxDB 1.x says `error`.
  const fromJson = json?.message ?? json?.error;
  const text = typeof fromJson === 'string' ? fromJson : (err.body ?? err.statusMessage ?? '');
  return text.slice(0, 1000);
}

export function classify(err: unknown, timeoutMs: number): WriteOutcome {
  if (err instanceof HttpError) {
    const status = err.statusCode;
    const msg = serverMessage(err);
    const header = err.headers?.['retry-after'];
    const retryAfterS = retryAfterSeconds(Array.isArray(header) ? (header[0] ?? null) : (header ?? null));
    if (status === 401) return { kind: 'unauthorized', status, message: `InfluxDB rejected the token (401): ${msg}; check INFLUX_TOKEN` };
    if (status === 403)
      return {
        kind: 'forbidden',
        status,
        message: `InfluxDB forbids writing (403): ${msg}; give the token write permission on the bucket`,
      };
    if (status === 404)
      return { kind: 'bucketNotFound', status, message: `InfluxDB says not found (404): ${msg}; check INFLUX_ORG and INFLUX_BUCKET` };
    if (status === 422 || (status === 400 && isLineError(msg)))
      return { kind: 'rejected', status, message: msg || `InfluxDB answered ${status}` };
    if (status === 400)
      return {
        kind: 'badRequest',
        status,
        message: `InfluxDB refused the write request itself (400): ${msg || 'no message'}; check INFLUX_ORG, INFLUX_BUCKET and INFLUX_EXTRA_TAGS`,
      };
    if (status === 413) return { kind: 'tooLarge', status, message: msg || 'request too large' };
    return {
      kind: 'unavailable',
      status,
      ...(retryAfterS !== undefined ? { retryAfterS } : {}),
      message: `InfluxDB answered ${status}${msg ? `: ${msg}` : ''}`,
    };
  }
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'RequestTimedOutError' || e?.name === 'AbortError') {
    return {
      kind: 'unavailable',
      message: `InfluxDB did not answer within ${timeoutMs} ms (the write may still land; it stays spooled and is replayed, which is harmless)`,
    };
  }
  return { kind: 'unavailable', message: `cannot reach InfluxDB: ${e?.code ?? ''} ${errorMessage(err)}`.trim() };
}
