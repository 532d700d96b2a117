/**
 * A small HTTP gate between the service and the real server, for faults a real server will not
 * produce on demand: down (connections refused), hang (no answer: a frozen server), an HTTP
 * status (401/403/404/413/429/500), and InfluxDB 2's 400 for lines matching a pattern (the
 * VictoriaMetrics we test against accepts and drops bad lines silently). Everything else is
 * forwarded unchanged.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';

export type GateMode =
  | 'pass'
  | 'down'
  | 'hang'
  | {
      status: number;
      body?: string;
      headers?: Record<string, string>;
      /** Only write requests with more lines than this get the status (a body-size limit: 413); the rest pass. */
      linesAbove?: number;
    }
  /** Forward at once, but hold the answer back this long (InfluxDB has the points; the client does not know yet). */
  | { delayMs: number };

export interface RejectOptions {
  /** 400 by default (a bad line); 422 for InfluxDB 2.7's partial write. */
  status?: number;
  /** The JSON body's message; by default InfluxDB 2's parse error for the first bad line. */
  message?: (bad: string[]) => string;
  /** Write the other lines of the request first (a partial write: 422 after the good points landed). */
  writeOthers?: boolean;
}

/** One write request the gate saw, and what it answered ('down': reset, 'hang': never). */
export interface GateWrite {
  at: number;
  lines: number;
  body: string;
  answer: number | 'down' | 'hang';
}

export interface InfluxGate {
  url: string;
  set(mode: GateMode): void;
  /** Lines matching this are answered like InfluxDB 2 answers a bad line: 400, nothing written. */
  rejectLines(pattern: RegExp | null, options?: RejectOptions): void;
  /** Write requests seen (forwarded or not). */
  writes(): number;
  /** Every write request seen, oldest first. */
  log(): readonly GateWrite[];
  /** Answers to write requests that delay mode is holding back right now (already stored upstream). */
  held(): number;
  /** A test's own answer for a write request, asked first: a status to answer with, or null to carry on. */
  intercept(hook: ((lines: string[]) => number | null) | null): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startInfluxGate(targetUrl: string): Promise<InfluxGate> {
  let mode: GateMode = 'pass';
  let reject: { pattern: RegExp; options: RejectOptions } | null = null;
  const log: GateWrite[] = [];
  let held = 0;
  let hook: ((lines: string[]) => number | null) | null = null;
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();

  const forward = async (req: IncomingMessage, body: Buffer | string): Promise<{ status: number; type: string; text: Buffer } | null> => {
    try {
      const upstream = await fetch(targetUrl + (req.url ?? '/'), {
        method: req.method ?? 'GET',
        headers: {
          'content-type': req.headers['content-type'] ?? 'text/plain',
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        },
        ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        signal: AbortSignal.timeout(30_000),
      });
      return {
        status: upstream.status,
        type: upstream.headers.get('content-type') ?? 'text/plain',
        text: Buffer.from(await upstream.arrayBuffer()),
      };
    } catch {
      return null;
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const isWrite = req.url?.startsWith('/api/v2/write') ?? false;
    const text = isWrite ? body.toString('utf8') : '';
    const entry: GateWrite | undefined = isWrite
      ? { at: Date.now(), lines: text === '' ? 0 : text.split('\n').length, body: text, answer: 'hang' }
      : undefined;
    if (entry) log.push(entry);
    const answer = (a: GateWrite['answer']) => {
      if (entry) entry.answer = a;
    };
    const hooked = isWrite && hook ? hook(text.split('\n')) : null;
    if (hooked !== null) {
      answer(hooked);
      res
        .writeHead(hooked, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'injected', message: `injected ${hooked}` }));
      return;
    }
    if (mode === 'down') {
      answer('down');
      req.socket.destroy();
      return;
    }
    if (mode === 'hang') {
      hung.add(res);
      return;
    }
    if (typeof mode === 'object' && 'status' in mode && (mode.linesAbove === undefined || (entry && entry.lines > mode.linesAbove))) {
      answer(mode.status);
      res
        .writeHead(mode.status, { 'content-type': 'application/json', ...(mode.headers ?? {}) })
        .end(mode.body ?? JSON.stringify({ code: 'injected', message: `injected ${mode.status}` }));
      return;
    }
    if (reject && isWrite) {
      const { pattern, options } = reject;
      const lines = text.split('\n');
      const bad = lines.filter((l) => pattern.test(l));
      if (bad.length > 0) {
        if (options.writeOthers) {
          const good = lines.filter((l) => !pattern.test(l));
          if (good.length > 0) {
            const up = await forward(req, good.join('\n'));
            if (!up || up.status >= 300) {
              answer('down');
              req.socket.destroy();
              return;
            }
          }
        }
        const status = options.status ?? 400;
        const message = options.message ? options.message(bad) : `unable to parse '${bad[0].slice(0, 60)}': invalid field format`;
        answer(status);
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: status === 422 ? 'unprocessable entity' : 'invalid', message }));
        return;
      }
    }
    const up = await forward(req, body);
    if (!up) {
      // Upstream down: look like it (reset, no answer).
      answer('down');
      req.socket.destroy();
      return;
    }
    // Read at answer time: the mode may have changed while the request was upstream.
    const m = mode;
    if (typeof m === 'object' && 'delayMs' in m) {
      if (isWrite) held++;
      try {
        await new Promise((r) => setTimeout(r, m.delayMs));
      } finally {
        if (isWrite) held--;
      }
    }
    answer(up.status);
    res.writeHead(up.status, { 'content-type': up.type }).end(up.text);
  }
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    set(m) {
      mode = m;
      if (m === 'down') for (const s of sockets) s.destroy();
      if (m !== 'hang') {
        for (const r of hung) r.socket?.destroy();
        hung.clear();
      }
    },
    rejectLines: (p, options = {}) => (reject = p ? { pattern: p, options } : null),
    writes: () => log.length,
    log: () => log,
    held: () => held,
    intercept: (h) => (hook = h),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
