/**
 * The e2e benchmark's /ticks client, in a process of its own (forked with an IPC channel by
 * e2e.bench.ts): one connection on `?keys=*`; each live tick is parsed and stamped with
 * Date.now() as it is parsed. Latency = that stamp minus the tick's `ts` (the frame's currentTs,
 * which the simulator takes from Date.now() once the frame is encoded, just before sending it):
 * the same wall clock in both processes. Both are whole milliseconds, so each latency is within
 * ±1 ms of the truth and the histogram counts whole milliseconds.
 *
 * IPC: the parent sends 'mark' and gets the summary of the ticks since the previous mark.
 */
import WebSocket from 'ws';

export interface LatencySummary {
  ticks: number;
  /** ms; null when no tick arrived. */
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  /** Ticks stamped before their frame's time (clock steps): counted as 0 ms. */
  negative: number;
}

const BUCKETS = 120_001; // 0..120 s; later is counted in the last bucket
let hist = new Uint32Array(BUCKETS);
let ticks = 0;
let negative = 0;
let max = 0;

function quantile(q: number): number | null {
  if (ticks === 0) return null;
  const rank = Math.ceil(q * ticks);
  let seen = 0;
  for (let ms = 0; ms < BUCKETS; ms++) {
    seen += hist[ms];
    if (seen >= rank) return ms;
  }
  return BUCKETS - 1;
}

function summary(): LatencySummary {
  const s = { ticks, p50: quantile(0.5), p99: quantile(0.99), p999: quantile(0.999), max: ticks ? max : null, negative };
  hist = new Uint32Array(BUCKETS);
  ticks = 0;
  negative = 0;
  max = 0;
  return s;
}

interface TickMessage {
  type?: string;
  ts?: number;
  snapshot?: boolean;
}

const url = process.argv[2];
if (!url || !process.send) throw new Error('usage: fork e2e-client.js <ws://host:port/ticks?keys=*> (with an IPC channel)');
const send = process.send.bind(process);
const ws = new WebSocket(url);
ws.on('message', (data: Buffer) => {
  const msg = JSON.parse(data.toString()) as TickMessage;
  const at = Date.now();
  if (msg.type !== 'tick' || msg.snapshot === true || typeof msg.ts !== 'number') return;
  let ms = at - msg.ts;
  if (ms < 0) {
    negative++;
    ms = 0;
  }
  if (ms > max) max = ms;
  hist[Math.min(ms, BUCKETS - 1)]++;
  ticks++;
});
ws.on('open', () => send({ open: true }));
ws.on('error', (err) => {
  console.error(`e2e client: ${err.message}`);
  process.exit(1);
});
ws.on('close', (code) => send({ closed: code }));
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'mark') send({ summary: summary() });
  if (m.cmd === 'stop') {
    ws.terminate();
    process.exit(0);
  }
});
