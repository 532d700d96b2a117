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

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Client {
  socket: Socket;
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

/** A number field's first occurrence within [from, to) of a message ("ts" is the tick's: candles come after it). */
function field(buf: Buffer, name: string, from: number, to: number): number {
  const i = buf.indexOf(name, from, 'latin1');
  if (i < 0 || i >= to) return NaN;
  const at = i + name.length;
  return parseFloat(buf.toString('latin1', at, Math.min(to, at + 27)));
}

/**
 * A websocket client reading the server's frames off the TCP socket itself (RFC 6455 framing;
 * server frames are unmasked). 100 clients receive up to 1,000,000 messages/s; the `ws`
 * library's per-message work would make this process, on the machine's other core, the
 * bottleneck and the latencies its own. What is measured stays the time until the bytes of a
 * message are in its receiver's hands.
 */
function open(url: string): Promise<void> {
  const u = new URL(url);
  const socket = tcpConnect(Number(u.port), u.hostname);
  socket.setNoDelay(true);
  const c: Client = { socket, inWindow: 0, closed: null };
  clients.push(c);
  let buf: Buffer = Buffer.alloc(0);
  let upgraded = false;
  const onMessages = (at: number) => {
    let off = 0;
    while (buf.length - off >= 2) {
      const op = buf[off] & 0x0f;
      let len = buf[off + 1] & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = buf.readUInt32BE(off + 6);
        head = 10;
      }
      if (buf.length - off < head + len) break;
      const start = off + head;
      const end = start + len;
      if (op === 8) c.closed = { code: len >= 2 ? buf.readUInt16BE(start) : 1005, at };
      else if (op === 1) {
        const due = field(buf, '"ltt":', start, end);
        if (due >= windowStart && due < windowEnd) {
          c.inWindow++;
          record(at - field(buf, '"ts":', start, end), at - due);
        }
      }
      off = end;
    }
    buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
  };
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.on('close', () => (c.closed ??= { code: 1006, at: nowMs() }));
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    socket.on('data', (chunk: Buffer) => {
      const at = nowMs();
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const endOfHead = buf.indexOf('\r\n\r\n');
        if (endOfHead < 0) return;
        if (buf.toString('latin1', 0, 12) !== 'HTTP/1.1 101') return reject(new Error(`upgrade refused: ${buf.toString('latin1', 0, 40)}`));
        upgraded = true;
        buf = buf.subarray(endOfHead + 4);
        resolve();
      }
      onMessages(at);
    });
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
  const pct = (p: number) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor((p / 100) * count))]);
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
      for (const c of clients.splice(0)) c.socket.destroy();
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
