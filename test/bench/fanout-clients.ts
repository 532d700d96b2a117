/**
 * The client side of fanout.bench.ts, run in a child process (fork) so that receiving and parsing
 * the messages uses the other core instead of competing with the server for its event loop.
 * Driven over IPC:
 *   {op:'open', url, n}        n ws clients, each subscribed through the URL (?keys=*)
 *   {op:'openStalled', url}    a raw TCP client that completes the upgrade and never reads again
 *   {op:'window', start, end}  record messages scheduled (ltt) in [start, end)
 *   {op:'count'}               messages received in the window so far
 *   {op:'report'}              latency percentiles and counts for the window
 *   {op:'closeAll'}            terminates every client
 * Every request is answered with {op, ...result}.
 *
 * The bench stamps two fields of every update, both process.hrtime in ms (CLOCK_MONOTONIC, one
 * clock for every process on the machine): "ts" = when fanout.publish() was called, "ltt" = when
 * the frame was due by the schedule. Latency = receipt time − each; the second includes any
 * time the server was too busy to publish on schedule.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Client {
  ws: WebSocket;
  inWindow: number;
  closed: { code: number; at: number } | null;
}

const clients: Client[] = [];
const stalled: Socket[] = [];
let windowStart = Infinity;
let windowEnd = Infinity;
let fromPublish: Float64Array = new Float64Array(1 << 20);
let fromDue: Float64Array = new Float64Array(1 << 20);
let count = 0;
let cpuAtWindow = process.cpuUsage();
let wallAtWindow = nowMs();

function grow(a: Float64Array): Float64Array {
  const bigger = new Float64Array(a.length * 2);
  bigger.set(a);
  return bigger;
}

function record(publishMs: number, dueMs: number): void {
  if (count === fromPublish.length) {
    fromPublish = grow(fromPublish);
    fromDue = grow(fromDue);
  }
  fromPublish[count] = publishMs;
  fromDue[count++] = dueMs;
}

/** A number field's first occurrence ("ts" is the tick's: candles come after it). No JSON.parse:
 *  the server's latency is what we measure, not this process's parsing speed. */
function field(text: string, name: string): number {
  const i = text.indexOf(name);
  return i < 0 ? NaN : parseFloat(text.substring(i + name.length, i + name.length + 27));
}

function open(url: string): Promise<void> {
  const ws = new WebSocket(url);
  const c: Client = { ws, inWindow: 0, closed: null };
  clients.push(c);
  ws.on('message', (data) => {
    const at = nowMs();
    const text = data.toString();
    const due = field(text, '"ltt":');
    if (due >= windowStart && due < windowEnd) {
      c.inWindow++;
      record(at - field(text, '"ts":'), at - due);
    }
  });
  ws.on('close', (code) => (c.closed = { code, at: nowMs() }));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

/** Sends the upgrade request, reads the 101 answer, then stops reading for good. */
function openStalled(url: string): Promise<void> {
  const u = new URL(url);
  const socket = tcpConnect(Number(u.port), u.hostname);
  stalled.push(socket);
  socket.on('error', () => {});
  socket.write(
    `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      if (chunk.toString('latin1', 0, 12) === 'HTTP/1.1 101') resolve();
      else reject(new Error(`upgrade refused: ${chunk.toString('latin1', 0, 40)}`));
    });
  });
}

function percentiles(a: Float64Array) {
  const sorted = a.subarray(0, count).sort();
  const pct = (p: number) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor((p / 100) * count))]!);
  return { min: pct(0), p50: pct(50), p99: pct(99), max: pct(100) };
}

function report() {
  const cpu = process.cpuUsage(cpuAtWindow);
  return {
    received: count,
    perClient: clients.map((c) => c.inWindow),
    closed: clients.map((c) => c.closed),
    fromPublish: percentiles(fromPublish),
    fromDue: percentiles(fromDue),
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (nowMs() - wallAtWindow)) * 100,
  };
}

async function handle(msg: { op: string; url?: string; n?: number; start?: number; end?: number }): Promise<Record<string, unknown>> {
  switch (msg.op) {
    case 'open':
      await Promise.all(Array.from({ length: msg.n! }, () => open(msg.url!)));
      return {};
    case 'openStalled':
      await openStalled(msg.url!);
      return {};
    case 'window':
      windowStart = msg.start!;
      windowEnd = msg.end!;
      count = 0;
      for (const c of clients) c.inWindow = 0;
      cpuAtWindow = process.cpuUsage();
      wallAtWindow = nowMs();
      return {};
    case 'count':
      return { received: count };
    case 'report':
      return report();
    case 'closeAll':
      for (const c of clients.splice(0)) c.ws.terminate();
      for (const s of stalled.splice(0)) s.destroy();
      windowStart = windowEnd = Infinity;
      return {};
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

process.on('message', (msg: { op: string }) => {
  handle(msg).then(
    (r) => process.send!({ op: msg.op, ...r }),
    (err: Error) => process.send!({ op: msg.op, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
