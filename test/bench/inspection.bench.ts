/**
 * Cost of one inspection event through the hub (convert, sanitise, serialise once, fan out),
 * for a typical actor snapshot and for one holding a 2000-key list (what the cap is for).
 * Baseline, same run: `JSON.stringify` of the raw snapshot, what forwarding it unsanitised
 * would cost at least. The actors emit a few events per second, so anything above ~10,000
 * events/s is three orders of magnitude of headroom.
 */
import { createActor, setup, type InspectionEvent } from 'xstate';
import { InspectionHub } from '../../src/inspector/hub.js';
import { opsPerSecond, table } from './bench-util.js';

const machine = setup({}).createMachine({ id: 'bench', initial: 'a', states: { a: {} } });
const actor = createActor(machine).start();

const small = {
  status: 'active',
  value: { influxDown: 'probing' },
  context: {
    reason: 'InfluxDB unreachable: connect ECONNREFUSED',
    lastError: { code: 'INFLUX_UNAVAILABLE', message: 'connect ECONNREFUSED 127.0.0.1:8086' },
    downSince: Date.now(),
    failures: 3,
    probeDelayMs: 4000,
  },
};
const wide = {
  status: 'active',
  value: 'idle',
  context: {
    ...small.context,
    pending: {
      points: 120_000,
      firstTs: 1,
      lastTs: 2,
      keys: Array.from({ length: 2000 }, (_, i) => `NSE_EQ|INE${String(i).padStart(6, '0')}01018`),
    },
  },
};

function through(snapshot: object): () => void {
  const hub = new InspectionHub();
  let bytes = 0;
  hub.subscribe((_e, json) => void (bytes += json.length));
  const ev = {
    type: '@xstate.snapshot',
    actorRef: actor,
    rootId: actor.sessionId,
    event: { type: 'TICK_BATCH' },
    snapshot,
  } as unknown as InspectionEvent;
  return () => {
    hub.inspect(ev);
    hub.flush();
  };
}

const rows = [];
for (const [name, snap] of [
  ['typical snapshot', small],
  ['2000-key snapshot', wide],
] as const) {
  const hub = opsPerSecond(through(snap), 600);
  const raw = opsPerSecond(() => void JSON.stringify(snap), 600);
  rows.push({
    case: name,
    'hub events/s': hub,
    'raw stringify/s': raw,
    'hub / raw': hub / raw,
    'bytes sent': bytesOf(snap),
    'raw bytes': JSON.stringify(snap).length,
  });
}
table(rows);
actor.stop();

function bytesOf(snapshot: object): number {
  const hub = new InspectionHub();
  let n = 0;
  hub.subscribe((_e, json) => void (n = json.length));
  hub.inspect({
    type: '@xstate.snapshot',
    actorRef: actor,
    rootId: actor.sessionId,
    event: { type: 'X' },
    snapshot,
  } as unknown as InspectionEvent);
  hub.flush();
  return n;
}
