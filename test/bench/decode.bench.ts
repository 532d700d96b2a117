/**
 * Decode throughput: instrument updates per second turned from V3 frame bytes into plain updates,
 * for frames of 1, 10 and 100 full-mode instruments. Baseline, same run: protobufjs
 * `FeedResponse.decode` + `toObject`, the path of Upstox's own SDK examples.
 * Targets (issue 2): >= 500,000 updates/s on one core and >= 3x the baseline.
 */
import { decodeFrame } from '../../src/upstox/codec.js';
import { encodeFeedResponse, feedSchema } from '../../src/upstox/proto-schema.js';
import { opsPerSecond, table } from './bench-util.js';
import { fullFeed } from './sample-feed.js';

function frame(n: number): Uint8Array {
  const feeds: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) feeds[`NSE_EQ|INE${String(i).padStart(6, '0')}01018`] = fullFeed(i, 5);
  return encodeFeedResponse({ type: 1, feeds, currentTs: 1_732_000_000_123 });
}

const { FeedResponse } = feedSchema();
let sink = 0;
const rows: Array<Record<string, string | number>> = [];
for (const n of [1, 10, 100]) {
  const bytes = frame(n);
  const ours =
    opsPerSecond(() => {
      const f = decodeFrame(bytes);
      sink += f.updates.length;
    }) * n;
  const baseline =
    opsPerSecond(() => {
      const o = FeedResponse.toObject(FeedResponse.decode(bytes)) as { feeds: Record<string, unknown> };
      sink += Object.keys(o.feeds).length;
    }) * n;
  rows.push({
    instruments: n,
    'frame bytes': bytes.length,
    'tickpipe updates/s': ours,
    'baseline updates/s': baseline,
    ratio: `${(ours / baseline).toFixed(2)}x`,
  });
}
table(rows);
const worst = Math.min(...rows.map((r) => Number(String(r['ratio']).replace('x', ''))));
const slowest = Math.min(...rows.map((r) => r['tickpipe updates/s'] as number));
console.log(
  `slowest ${Math.round(slowest).toLocaleString('en-US')} updates/s (target >= 500,000); worst ratio ${worst.toFixed(2)}x (target >= 3x)`,
);
if (sink < 0) console.log(sink);
