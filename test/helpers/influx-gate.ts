/**
 * A small HTTP gate between the service and the real server, for faults a real server will not
 * produce on demand: down (connections refused), hang (no answer: a frozen server), an HTTP
 * status (401/403/404/413/429/500), and InfluxDB 2's 400 for lines matching a pattern (the
 * VictoriaMetrics we test against accepts and drops bad lines silently). Everything else is
 * forwarded unchanged. `{ delayMs }` forwards at once but holds the server's answer back for that
 * long: the points are stored while the client still waits, which widens the moment "InfluxDB has
 * the batch, the client does not know yet" for crash tests.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';

export type GateMode =
  | 'pass'
  | 'down'
  | 'hang'
  | { status: number; body?: string; headers?: Record<string, string> }
  | { delayMs: number };

export interface InfluxGate {
  url: string;
  set(mode: GateMode): void;
  /** Lines matching this are answered like InfluxDB 2 answers a bad line: 400, nothing written. */
  rejectLines(pattern: RegExp | null): void;
  /** Write requests seen (forwarded or not). */
  writes(): number;
  /** Answers to write requests that delay mode is holding back right now (already stored upstream). */
  held(): number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startInfluxGate(targetUrl: string): Promise<InfluxGate> {
  let mode: GateMode = 'pass';
  let reject: RegExp | null = null;
  let writes = 0;
  let held = 0;
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.url?.startsWith('/api/v2/write')) writes++;
    if (mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (mode === 'hang') {
      hung.add(res);
      return;
    }
    if (typeof mode === 'object' && 'status' in mode) {
      res.writeHead(mode.status, { 'content-type': 'application/json', ...(mode.headers ?? {}) }).end(mode.body ?? JSON.stringify({ code: 'injected', message: `injected ${mode.status}` }));
      return;
    }
    if (reject && req.url?.startsWith('/api/v2/write')) {
      const bad = body
        .toString('utf8')
        .split('\n')
        .find((l) => reject!.test(l));
      if (bad) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({ code: 'invalid', message: `unable to parse '${bad.slice(0, 60)}': invalid field format` }),
        );
        return;
      }
    }
    try {
      const upstream = await fetch(targetUrl + (req.url ?? '/'), {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'text/plain', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
        ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = Buffer.from(await upstream.arrayBuffer());
      // Read at answer time: the mode may have changed while the request was upstream.
      const m = mode;
      if (typeof m === 'object' && 'delayMs' in m) {
        const write = req.url?.startsWith('/api/v2/write') === true;
        if (write) held++;
        try {
          await new Promise((r) => setTimeout(r, m.delayMs));
        } finally {
          if (write) held--;
        }
      }
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' }).end(text);
    } catch {
      // Upstream down: look like it (reset, no answer).
      req.socket.destroy();
    }
  });
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
    rejectLines: (p) => (reject = p),
    writes: () => writes,
    held: () => held,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
