/**
 * What InfluxDB keeps from a list of line-protocol lines: per series and timestamp, each field's
 * last written value (a later write of the same point replaces only the fields it carries). Tests
 * hold two ways of writing the same data equal by what they would leave in the database.
 */

/** Splits `s` at `sep` where it is neither backslash-escaped nor (with `quotes`) inside a string field. */
function split(s: string, sep: string, quotes: boolean): string[] {
  const parts: string[] = [];
  let start = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') i++;
    else if (quotes && ch === '"') inString = !inString;
    else if (ch === sep && !inString) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

export interface ParsedLine {
  /** `measurement,tags` as written. */
  series: string;
  fields: Record<string, string>;
  ts: string;
}

export function parseLine(line: string): ParsedLine {
  const series = split(line, ' ', false)[0];
  const rest = line.slice(series.length + 1);
  const [fieldText, ts, ...extra] = split(rest, ' ', true);
  if (ts === undefined || extra.length > 0) throw new Error(`not a line of line protocol: ${line}`);
  const fields: Record<string, string> = {};
  for (const f of split(fieldText, ',', true)) {
    const eq = f.indexOf('=');
    fields[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return { series, fields, ts };
}

/** `series ts` → field → value, after every line in order. */
export function influxState(lines: readonly string[]): Map<string, Record<string, string>> {
  const state = new Map<string, Record<string, string>>();
  for (const line of lines) {
    const p = parseLine(line);
    const id = `${p.series} ${p.ts}`;
    state.set(id, { ...state.get(id), ...p.fields });
  }
  return state;
}
