/**
 * The NATS side of nats.bench.ts, in a child process (fork) like fanout-clients.ts, so consuming
 * does not share the publisher's event loop. A strategy's consumer: the official client, an
 * ordered JetStream consumer on the tick subjects, new messages only. The bench stamps each
 * tick's "ts" (publish time) and "ltt" (due time) with process.hrtime in ms (CLOCK_MONOTONIC,
 * one clock for both processes); latency = receipt − ts.
 *   {op:'start', url, stream}   consume from now on
 *   {op:'window', start, end}   record ticks due (ltt) in [start, end)
 *   {op:'count'} / {op:'report'} / {op:'stop'}
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
let nc: NatsConnection | null = null;
let stopConsuming: (() => Promise<void>) | null = null;
let windowStart = Infinity;
let windowEnd = Infinity;
let lat = new Float64Array(1 << 20);
let count = 0;
let duplicates = 0;
const seen = new Set<string>();

function field(buf: Uint8Array, name: string): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const i = b.indexOf(name, 0, 'latin1');
  if (i < 0) return NaN;
  const at = i + name.length;
  return parseFloat(b.toString('latin1', at, Math.min(b.length, at + 27)));
}

async function start(url: string, stream: string): Promise<void> {
  nc = await connect({ servers: url });
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: 'tickpipe.tick.>', deliver_policy: DeliverPolicy.New });
  const iter = await consumer.consume({ max_messages: 10_000 });
  const done = (async () => {
    for await (const m of iter) {
      const at = nowMs();
      const due = field(m.data, '"ltt":');
      if (!(due >= windowStart && due < windowEnd)) continue;
      const id = m.headers?.get('Nats-Msg-Id') ?? '';
      if (seen.has(id)) duplicates++;
      seen.add(id);
      if (count === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[count++] = at - field(m.data, '"ts":');
    }
  })();
  stopConsuming = async () => {
    await iter.close();
    await done;
  };
}

function report() {
  const sorted = lat.subarray(0, count).sort();
  const pct = (p: number) => (count === 0 ? null : sorted[Math.min(count - 1, Math.floor((p / 100) * count))]);
  return { received: count, duplicates, p50: pct(50), p99: pct(99), max: pct(100) };
}

async function handle(msg: { op: string; url?: string; stream?: string; start?: number; end?: number }): Promise<Record<string, unknown>> {
  switch (msg.op) {
    case 'start':
      await start(msg.url!, msg.stream!);
      return {};
    case 'window':
      windowStart = msg.start!;
      windowEnd = msg.end!;
      count = 0;
      duplicates = 0;
      seen.clear();
      return {};
    case 'count':
      return { received: count };
    case 'report':
      return report();
    case 'stop':
      await stopConsuming?.();
      await nc?.close();
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
