/**
 * When does a segment trade? The table the gap ledger uses for time the service was not connected
 * (stopped, crashed, reconnecting): a closed market, a weekend or a holiday is not a gap, so an
 * outage is clipped to the sessions it overlaps. Pure and serialisable (plain arrays), so machines
 * can carry a calendar in their input.
 *
 * Times are IST (UTC+05:30, no daylight saving). The format is MARKET_HOURS's (README, Configuration):
 * `;`-separated entries `SEGMENTS=DAYS HH:MM-HH:MM`, SEGMENTS `*` or a comma list, DAYS one day or a
 * range (`Mon-Fri`, `Sun-Thu`). MARKET_HOLIDAYS: comma list of `YYYY-MM-DD` on which nothing trades.
 */

/** IST is UTC+05:30 all year. */
const IST_OFFSET_MS = 330 * 60_000;
const DAY_MS = 86_400_000;
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/**
 * The built-in table. NSE/BSE equity, F&O and indices: 09:15–15:30. MCX: 09:00–23:55 (its evening
 * session ends at 23:30 or 23:55 with US daylight saving; the longer bound is kept, since a few
 * minutes too many only cost an empty candle request, a few too few would hide a real gap).
 * Currency derivatives: 09:00–17:00. Any other segment: the `*` entry (equity hours).
 */
const DEFAULT_MARKET_HOURS =
  'NSE_EQ,NSE_FO,NSE_INDEX,BSE_EQ,BSE_FO,BSE_INDEX=Mon-Fri 09:15-15:30;' +
  'MCX_FO,MCX_INDEX=Mon-Fri 09:00-23:55;' +
  'NCD_FO,BCD_FO=Mon-Fri 09:00-17:00;' +
  '*=Mon-Fri 09:15-15:30';

export interface SessionRule {
  /** Segment names, or `['*']` for every segment no other rule of the same table names. */
  segments: string[];
  /** Days of the week (0 = Sunday) on which the session runs. */
  days: number[];
  /** Minutes after IST midnight: open inclusive, close exclusive (1440 = 24:00). */
  openMin: number;
  closeMin: number;
}

export interface TradingCalendar {
  /** MARKET_HOURS entries; a segment they name (or `*`) ignores `builtin`. */
  overrides: SessionRule[];
  builtin: SessionRule[];
  /** YYYY-MM-DD (IST) dates on which nothing trades. */
  holidays: string[];
}

export interface ParseResult<T> {
  value: T;
  /** One message per bad entry, naming it and saying how to fix it. */
  problems: string[];
}

function parseDay(name: string): number | undefined {
  const i = DAY_NAMES.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  return i < 0 ? undefined : i;
}

function parseTime(hhmm: string): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(hhmm);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

function parseEntry(entry: string): SessionRule | string {
  const m = /^\s*([^=]+?)\s*=\s*(\S+)\s+(\d{2}:\d{2})-(\d{2}:\d{2})\s*$/.exec(entry);
  if (!m) return 'expected SEGMENTS=DAYS HH:MM-HH:MM, e.g. NSE_EQ,NSE_FO=Mon-Fri 09:15-15:30';
  const segments = m[1].split(',').map((s) => s.trim());
  if (segments.some((s) => !/^(\*|[A-Z][A-Z0-9_]*)$/.test(s)) || (segments.includes('*') && segments.length > 1)) {
    return `segments ${JSON.stringify(m[1])} must be * or a comma list of segment names such as NSE_EQ,NSE_FO`;
  }
  const [a, b = a] = m[2].split('-');
  const first = parseDay(a);
  const last = parseDay(b);
  if (first === undefined || last === undefined || m[2].split('-').length > 2) {
    return `days ${JSON.stringify(m[2])} must be a day or a range of ${DAY_NAMES.join(', ')}, e.g. Mon-Fri`;
  }
  const days: number[] = [];
  for (let d = first; ; d = (d + 1) % 7) {
    days.push(d);
    if (d === last) break;
  }
  const openMin = parseTime(m[3]);
  const closeMin = parseTime(m[4]);
  if (openMin === undefined || closeMin === undefined || closeMin <= openMin) {
    return `hours ${m[3]}-${m[4]} must be HH:MM-HH:MM in IST with the close after the open (24:00 at most)`;
  }
  return { segments, days, openMin, closeMin };
}

/** Parses a MARKET_HOURS value; every bad entry becomes one problem naming it. */
export function parseMarketHours(text: string, setting = 'MARKET_HOURS'): ParseResult<SessionRule[]> {
  const rules: SessionRule[] = [];
  const problems: string[] = [];
  for (const entry of text.split(';')) {
    if (entry.trim() === '') continue;
    const r = parseEntry(entry);
    if (typeof r === 'string') problems.push(`${setting} entry ${JSON.stringify(entry.trim())}: ${r}`);
    else rules.push(r);
  }
  if (rules.length === 0 && problems.length === 0) {
    problems.push(`${setting} has no entries; unset it for the built-in table, or write e.g. *=Mon-Fri 09:15-15:30`);
  }
  return { value: rules, problems };
}

/** Parses a MARKET_HOLIDAYS value (comma list of YYYY-MM-DD). */
export function parseHolidays(text: string, setting = 'MARKET_HOLIDAYS'): ParseResult<string[]> {
  const value: string[] = [];
  const problems: string[] = [];
  for (const raw of text.split(',')) {
    const d = raw.trim();
    if (d === '') continue;
    const ms = Date.parse(`${d}T00:00:00Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(d) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== d) {
      problems.push(`${setting} entry ${JSON.stringify(d)} is not a date YYYY-MM-DD (e.g. 2026-01-26)`);
    } else value.push(d);
  }
  return { value, problems };
}

/** The calendar from the two settings (undefined: built-in table, no holidays). */
export function buildCalendar(marketHours?: string, holidays?: string): ParseResult<TradingCalendar> {
  const builtin = parseMarketHours(DEFAULT_MARKET_HOURS).value;
  const o = marketHours === undefined ? { value: [], problems: [] } : parseMarketHours(marketHours);
  const h = holidays === undefined ? { value: [], problems: [] } : parseHolidays(holidays);
  return { value: { overrides: o.value, builtin, holidays: h.value }, problems: [...o.problems, ...h.problems] };
}

export const DEFAULT_CALENDAR: TradingCalendar = buildCalendar().value;

/** The rules that apply to `segment`: named in the overrides, else `*` there, else the same in the built-in table. */
function rulesFor(cal: TradingCalendar, segment: string): SessionRule[] {
  for (const table of [cal.overrides, cal.builtin]) {
    const named = table.filter((r) => r.segments.includes(segment));
    if (named.length > 0) return named;
    const star = table.filter((r) => r.segments.includes('*'));
    if (star.length > 0) return star;
  }
  return [];
}

/** The IST calendar date (YYYY-MM-DD) of an instant. */
export function istDate(ms: number): string {
  return new Date(ms + IST_OFFSET_MS).toISOString().slice(0, 10);
}

/** Instant of IST midnight starting the IST day that contains `ms`. */
function istMidnight(ms: number): number {
  return Math.floor((ms + IST_OFFSET_MS) / DAY_MS) * DAY_MS - IST_OFFSET_MS;
}

/** Sessions are scanned day by day; an outage longer than this is clipped to its last days. */
const MAX_DAYS = 400;

/** The parts of [from, to) during which `segment` trades, in order, merged where they touch. */
export function tradingIntervals(cal: TradingCalendar, segment: string, from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (!(to > from)) return out;
  const rules = rulesFor(cal, segment);
  const holidays = new Set(cal.holidays);
  const firstDay = Math.max(istMidnight(from), istMidnight(to) - MAX_DAYS * DAY_MS);
  for (let day = firstDay; day < to; day += DAY_MS) {
    if (holidays.has(istDate(day))) continue;
    const weekday = new Date(day + IST_OFFSET_MS).getUTCDay();
    const sessions = rules
      .filter((r) => r.days.includes(weekday))
      .map((r): [number, number] => [day + r.openMin * 60_000, day + r.closeMin * 60_000])
      .sort((a, b) => a[0] - b[0]);
    for (const [open, close] of sessions) {
      const a = Math.max(open, from);
      const b = Math.min(close, to);
      if (b <= a) continue;
      const last = out[out.length - 1];
      if (last && a <= last[1]) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
  }
  return out;
}

/** Whether `segment` trades at instant `ms` by the table. */
export function isTradingAt(cal: TradingCalendar, segment: string, ms: number): boolean {
  return tradingIntervals(cal, segment, ms, ms + 1).length > 0;
}
