/**
 * A human-readable pino destination for the demo: `12:00:01 INFO  writer: influxUp → influxDown`.
 * Production keeps pino's JSON lines (for log shippers); the demo is read by a person.
 */
import type { DestinationStream } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'actor']);

export function prettyDestination(out: NodeJS.WritableStream = process.stdout): DestinationStream {
  return {
    write(line: string) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof rec['time'] === 'string' ? rec['time'].slice(11, 19) : new Date().toISOString().slice(11, 19);
      const level = LEVELS[rec['level'] as number] ?? String(rec['level']);
      const extra = Object.entries(rec)
        .filter(([k]) => !OMIT.has(k) && !['from', 'to', 'event', 'reason'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${time} ${level} ${typeof rec['msg'] === 'string' ? rec['msg'] : ''}${extra ? `  ${extra}` : ''}\n`);
    },
  };
}
