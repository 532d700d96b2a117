/**
 * A local HTTP server serving an instrument file in Upstox's shape (test/helpers/master-fixture.ts)
 * at /instruments/complete.json.gz, counting requests; `fail(status)` makes it answer an error.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FixtureOptions, masterGzip } from './master-fixture.js';

export interface MasterServer {
  url: string;
  requests(): number;
  /** Answer this status from now on (null: serve the file again). */
  fail(status: number | null): void;
  close(): Promise<void>;
}

/** Weekly expiry dates (YYYY-MM-DD) from the IST date of `now`: the next `count` Tuesdays, today included. */
export function nextTuesdays(now: number, count: number): string[] {
  const day = new Date(now + 5.5 * 3600_000);
  day.setUTCHours(0, 0, 0, 0);
  while (day.getUTCDay() !== 2) day.setUTCDate(day.getUTCDate() + 1);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 7);
  }
  return out;
}

export async function startMasterServer(fixture: FixtureOptions): Promise<MasterServer> {
  const body = masterGzip(fixture);
  let count = 0;
  let failWith: number | null = null;
  const server = createServer((_req, res) => {
    count++;
    if (failWith !== null) res.writeHead(failWith).end('unavailable');
    else res.writeHead(200, { 'content-type': 'application/gzip' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/instruments/complete.json.gz`,
    requests: () => count,
    fail: (status) => (failWith = status),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
