/**
 * A gap as an InfluxDB point, so a Grafana panel can annotate it: measurement `feed_gap`, tag
 * `reason`, fields `from`, `to` (ms), `keys` (comma list), `backfill` (state), `detail`; timestamp
 * `from` (written in microseconds, like every point). Written when the gap is recorded and again when its backfill state changes: the same
 * series and timestamp, so the newer fields replace the older ones.
 */
import { escapeStringField, escapeTag } from '../influx/line-protocol.js';
import type { GapRow } from './ledger.js';

export function gapLine(row: GapRow, extraTags: Readonly<Record<string, string>> = {}): string {
  const extra = Object.keys(extraTags)
    .sort()
    .map((k) => `,${escapeTag(k)}=${escapeTag(extraTags[k])}`)
    .join('');
  const fields =
    `from=${row.from}i,to=${row.to}i,keys="${escapeStringField(row.keys.join(','))}"` +
    `,backfill="${row.backfill}",detail="${escapeStringField(row.detail)}"`;
  // The write client's precision is microseconds.
  return `feed_gap,reason=${escapeTag(row.reason)}${extra} ${fields} ${row.from * 1000}`;
}
