/** A local HTTP endpoint that records notifications and answers with a status the test sets. */
import { type IncomingMessage, createServer } from 'node:http';

export interface NotifyReceiver {
  url: string;
  received: Array<Record<string, unknown>>;
  /** Status for the next requests (default 200). */
  setStatus(status: number): void;
  /** Requests answered (including failed ones). */
  attempts(): number;
  /** The Authorization header of each request (undefined when absent). */
  authorizations: Array<string | undefined>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function startNotifyReceiver(): Promise<NotifyReceiver> {
  let status = 200;
  let attempts = 0;
  const received: Array<Record<string, unknown>> = [];
  const authorizations: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      attempts++;
      authorizations.push(req.headers.authorization);
      if (status >= 200 && status < 300) received.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'failing on purpose');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${addr.port}/notify`,
        received,
        authorizations,
        setStatus: (s) => (status = s),
        attempts: () => attempts,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
