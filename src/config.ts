/**
 * Environment → one frozen, typed Config, or one ConfigError listing every problem with its fix.
 * This is the only module that reads the environment (main.ts hands it `process.env`).
 * The names in the README's configuration table are pinned; the TradeDataFeed names keep working as aliases.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseEnv } from 'node:util';
import { invalidInstrumentKeys } from '../machines/rules/instrument-key.js';
import { type TradingCalendar, buildCalendar } from '../machines/rules/trading-hours.js';
import { FEED_MODES, type FeedMode, type SubscriptionLimits } from '../machines/rules/subscriptions.js';
import { ConfigError } from './errors.js';
import { type ChainSpec, parseChainSpecs } from '../machines/rules/option-chain.js';
import { isInstrumentName } from './instruments/names.js';

// The subscription rules live with the machines that enforce them; re-exported for the data plane.
export { FEED_MODES, type FeedMode, type SubscriptionLimits };
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const SPOOL_FULL_POLICIES = ['drop-oldest', 'reject-newest'] as const;
export type SpoolFullPolicy = (typeof SPOOL_FULL_POLICIES)[number];

export interface Config {
  upstox: {
    accessToken: string | undefined;
    tokenUrl: string | undefined;
    apiUrl: string;
    instruments: readonly string[] | undefined;
    instrumentsUrl: string | undefined;
    feedMode: FeedMode;
    limits: SubscriptionLimits;
    /** Feed connections Upstox allows per user (2; 5 with Upstox Plus); tickpipe uses one. */
    maxConnections: number;
    /** Reconnect backoff: full jitter over base·2^attempt, capped. */
    reconnectBaseMs: number;
    reconnectMaxMs: number;
    /** Streaming this long resets the backoff. */
    stableAfterMs: number;
    /** No frame and no ping for this long while a subscribed segment is open: the feed is dead. */
    staleFeedMs: number;
    /** The same when every subscribed segment is closed (nights, holidays): pings still must come. */
    staleFeedClosedMs: number;
    /** The client pings the feed socket this often... */
    pingIntervalMs: number;
    /** ...and a socket that has sent nothing (no pong, frame or ping) this long after a ping is dead. */
    pongTimeoutMs: number;
    /** HH:MM in IST at which a token from UPSTOX_TOKEN_URL is refreshed ahead of the daily expiry. */
    tokenRefreshIst: string;
    /** Timeout of one authorize / token / instruments request. */
    httpTimeoutMs: number;
  };
  influx: {
    url: string | undefined;
    token: string | undefined;
    org: string;
    bucket: string;
    /** Batch flushed when it holds this many points... */
    batchMaxPoints: number;
    /** ...or when its oldest point is this old. Bounds the loss on SIGKILL. */
    flushIntervalMs: number;
    /** A write that has not answered in this time counts as failed (its points are spooled). */
    writeTimeoutMs: number;
    probeBaseMs: number;
    probeMaxMs: number;
    /** Extra tags on every point, e.g. `source=simulator` in the demo. */
    extraTags: Readonly<Record<string, string>>;
    /** A batch failing with 5xx this many times while /health passes is split to isolate what InfluxDB cannot take. */
    split5xxAfter: number;
    /** Write requests in flight at once, one per shard of series (per-series order holds in each). */
    writeLanes: number;
  };
  spool: {
    path: string;
    maxBytes: number;
    fullPolicy: SpoolFullPolicy;
    drainChunkPoints: number;
    /** Points kept in memory while the spool cannot be written (full disk); past it the oldest are dropped, counted. */
    memoryMaxPoints: number;
    /** How long a locked, busy or unwritable spool is retried at start before exiting. */
    lockTimeoutMs: number;
    /** Dead letters kept at most; the oldest are deleted past it (counted). */
    deadLetterMax: number;
    /**
     * Nice value of the storage worker's thread (Linux: per thread): when the cores are busy the
     * thread feeding /ticks wins them, and storage catches up from its queue a moment later.
     */
    workerNice: number;
    /**
     * Raw frame bytes waiting for the storage worker past which new frames are not handed to it
     * (counted in stats.updatesDroppedStorageQueue): memory stays bounded if the worker stalls.
     */
    workerQueueMaxBytes: number;
  };
  notify: {
    url: string | undefined;
    intervalS: number;
    retryS: number;
    timeoutMs: number;
  };
  http: {
    host: string;
    port: number;
    apiToken: string | undefined;
    /** Per /ticks client: queued bytes beyond which it is conflated, then dropped. */
    wsMaxBufferedBytes: number;
    /** Websocket clients at once, per route (/ticks, /inspect); the next is refused with 1013. */
    wsMaxClients: number;
    /** ALLOWED_ORIGINS: origins (`scheme://host[:port]`) besides the service's own that may open websockets and mutate. */
    allowedOrigins: readonly string[];
    /** ALLOWED_HOSTS: host names (besides IP literals and localhost) a request's Host may carry. */
    allowedHosts: readonly string[];
  };
  inspect: string | undefined;
  logLevel: LogLevel;
  /** Upstox's daily instrument file: names, symbols, option chains. */
  master: {
    url: string;
    /** HH:MM IST of the daily download. */
    refreshIst: string;
    /** Whole download (tens of MB). */
    downloadTimeoutMs: number;
  };
  chains: {
    specs: readonly ChainSpec[];
    mode: FeedMode;
  };
  /** NATS JetStream (NATS_URL): ticks for strategies on other machines. */
  nats: NatsConfig;
  /** High availability (HA_GROUP): a leader lease in NATS. */
  ha: HaConfig;
  gaps: GapsConfig;
}

/** The gap ledger and the 1-minute candle backfill (README "Gaps and backfill"). */
export interface GapsConfig {
  /** MARKET_HOURS / MARKET_HOLIDAYS over the built-in table. */
  calendar: TradingCalendar;
  /** BACKFILL=off records gaps (backfill `none`) without fetching candles. */
  backfill: boolean;
  /** After a gap's last minute closed, wait this long before fetching (Upstox settles the candle). */
  graceMs: number;
  batchKeys: number;
  maxAttempts: number;
  retryMs: number;
  retryMaxMs: number;
  rateLimitMs: number;
  rateLimitMaxMs: number;
  /** Candle API pacing per user (Upstox: about 50/s and 500/min). */
  perSecond: number;
  perMinute: number;
  /** The durable "last frame seen" mark is written at most this often. */
  markIntervalMs: number;
}

export interface NatsConfig {
  /** Server URLs; undefined: nothing is published. */
  servers: readonly string[] | undefined;
  stream: string;
  maxAgeS: number;
  /** Publishes waiting for their ack at once; past it a tick is not published (counted). */
  maxInFlight: number;
  ackTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  pingIntervalMs: number;
}

export interface HaConfig {
  /** undefined: no leadership, this instance always ingests. */
  group: string | undefined;
  /** This instance's name in the lease (HA_INSTANCE, default host-pid). */
  instance: string;
  leaseTtlMs: number;
}

const DEFAULT_INSTRUMENT_MASTER_URL = 'https://assets.upstox.com/market-quote/instruments/exchange/complete.json.gz';

type Env = Record<string, string | undefined>;

/** Reads `.env` (when present) under the real environment: a variable already set wins. */
export function withEnvFile(env: Env, file = '.env'): Env {
  if (!existsSync(file)) return env;
  const parsed = parseEnv(readFileSync(file, 'utf8'));
  return { ...parsed, ...env };
}

const SECRET_VARS = new Set(['UPSTOX_ACCESS_TOKEN', 'ACCESS_TOKEN', 'INFLUX_TOKEN', 'INFLUX_DB_TOKEN', 'API_TOKEN']);

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** The first non-empty of the name and its aliases, with the name it was found under. */
  raw(name: string, aliases: readonly string[] = []): { value: string; from: string } | undefined {
    for (const n of [name, ...aliases]) {
      const v = this.env[n];
      if (v !== undefined && v.trim() !== '') return { value: v.trim(), from: n };
    }
    return undefined;
  }

  str(name: string, aliases: readonly string[] = []): string | undefined {
    return this.raw(name, aliases)?.value;
  }

  shown(from: string, value: string): string {
    return SECRET_VARS.has(from) ? `<secret, ${value.length} characters>` : JSON.stringify(value);
  }

  url(name: string, aliases: readonly string[], schemes: readonly string[], fallback?: string): string | undefined {
    const r = this.raw(name, aliases);
    if (!r) return fallback;
    let parsed: URL;
    try {
      parsed = new URL(r.value);
    } catch {
      this.problems.push(
        `${r.from}=${this.shown(r.from, r.value)} is not a URL; set it to an absolute URL such as ${schemes[0]}://host:port/path`,
      );
      return undefined;
    }
    const scheme = parsed.protocol.replace(/:$/, '');
    if (!schemes.includes(scheme)) {
      this.problems.push(
        `${r.from}=${this.shown(r.from, r.value)} uses ${scheme}://; it must be ${schemes.map((s) => `${s}://`).join(' or ')}`,
      );
      return undefined;
    }
    return r.value.replace(/\/+$/, '');
  }

  int(name: string, aliases: readonly string[], fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const r = this.raw(name, aliases);
    if (!r) return fallback;
    const n = Number(r.value);
    if (!/^-?\d+$/.test(r.value) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(
        `${r.from}=${JSON.stringify(r.value)} is not a whole number between ${min} and ${max}; unset it for the default ${fallback}`,
      );
      return fallback;
    }
    return n;
  }

  num(name: string, aliases: readonly string[], fallback: number, min: number, max: number): number {
    const r = this.raw(name, aliases);
    if (!r) return fallback;
    const n = Number(r.value);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problems.push(
        `${r.from}=${JSON.stringify(r.value)} is not a number between ${min} and ${max}; unset it for the default ${fallback}`,
      );
      return fallback;
    }
    return n;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const r = this.raw(name);
    if (!r) return fallback;
    const v = r.value.toLowerCase() as T;
    if (!allowed.includes(v)) {
      this.problems.push(`${name}=${JSON.stringify(r.value)} is not one of ${allowed.join(', ')}; default is ${fallback}`);
      return fallback;
    }
    return v;
  }
}

function parseInstruments(r: Reader): string[] | undefined {
  const raw = r.raw('INSTRUMENTS', ['INSTRUMENTS_LIST']);
  if (!raw) return undefined;
  let keys: string[];
  // TradeDataFeed accepted a JSON array too.
  if (raw.value.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(raw.value);
      if (!Array.isArray(parsed) || !parsed.every((k) => typeof k === 'string')) throw new Error('not an array of strings');
      keys = parsed.map((k: string) => k.trim());
    } catch {
      r.problems.push(`${raw.from} looks like JSON but is not an array of strings; use a comma-separated list`);
      return undefined;
    }
  } else {
    keys = raw.value.split(',').map((k) => k.trim());
  }
  keys = [...new Set(keys.filter((k) => k !== ''))];
  // Names (SEGMENT:TRADING_SYMBOL) are resolved against the instrument master at start.
  const bad = invalidInstrumentKeys(keys.filter((k) => !isInstrumentName(k)));
  if (keys.length === 0 || bad.length > 0) {
    r.problems.push(
      `${raw.from} has invalid instrument keys ${JSON.stringify(bad.slice(0, 5))}; each must be SEGMENT|id, e.g. NSE_EQ|INE002A01018, or a name SEGMENT:TRADING_SYMBOL, e.g. NSE_EQ:RELIANCE, separated by commas`,
    );
    return undefined;
  }
  return keys;
}

function parseTags(r: Reader): Record<string, string> {
  const raw = r.raw('INFLUX_EXTRA_TAGS');
  const tags: Record<string, string> = {};
  if (!raw) return tags;
  for (const pair of raw.value.split(',')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=([^,]+?)\s*$/.exec(pair);
    if (!m || ['instrument_key', 'segment', 'interval', 'symbol'].includes(m[1])) {
      r.problems.push(
        `INFLUX_EXTRA_TAGS has an invalid pair ${JSON.stringify(pair)}; use name=value,name2=value2 (not instrument_key, segment, interval or symbol)`,
      );
      continue;
    }
    // InfluxDB refuses these tag names for the whole request (a 400 about no line in particular).
    if (m[1] === 'time' || m[1].startsWith('_')) {
      r.problems.push(
        `INFLUX_EXTRA_TAGS tag name ${JSON.stringify(m[1])} is reserved by InfluxDB (time, and every name starting with _ such as _field, _measurement); choose another name`,
      );
      continue;
    }
    tags[m[1]] = m[2]!;
  }
  return tags;
}

/**
 * InfluxDB answers a write without org, bucket or token with a 400 (or 401) for the whole request;
 * caught here, at start, rather than as every point failing at run time.
 */
function checkInflux(r: Reader, influx: Config['influx']): void {
  if (!influx.url) return;
  const missing = [
    ['INFLUX_ORG', 'INFLUX_DB_ORG', influx.org],
    ['INFLUX_BUCKET', 'INFLUX_BUCKET_NAME', influx.bucket],
    ['INFLUX_TOKEN', 'INFLUX_DB_TOKEN, or INFLUX_TOKEN_FILE', influx.token ?? ''],
  ].filter(([, , v]) => v === '');
  for (const [name, alias] of missing) {
    r.problems.push(
      `INFLUX_URL is set but ${name} (alias ${alias}) is not: InfluxDB refuses every write without it; set it (for VictoriaMetrics or InfluxDB 1.x any non-empty value works) or unset INFLUX_URL`,
    );
  }
}

/**
 * INFLUX_TOKEN, or INFLUX_TOKEN_FILE: a file holding it (Compose's influxdb-token step writes a
 * write-only token there at first start, so the token never passes through .env).
 */
function influxToken(r: Reader): string | undefined {
  const direct = r.raw('INFLUX_TOKEN', ['INFLUX_DB_TOKEN']);
  const file = r.str('INFLUX_TOKEN_FILE');
  if (file === undefined) return direct?.value;
  if (direct) {
    r.problems.push(`both ${direct.from} and INFLUX_TOKEN_FILE are set; set only one of them`);
    return undefined;
  }
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    r.problems.push(
      `INFLUX_TOKEN_FILE=${JSON.stringify(file)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); point it at a file holding the InfluxDB token (with Compose, the influxdb-token step writes it at first start)`,
    );
    return undefined;
  }
  if (token === '') r.problems.push(`INFLUX_TOKEN_FILE=${JSON.stringify(file)} is empty; it must hold the InfluxDB token`);
  return token || undefined;
}

/** ALLOWED_ORIGINS: comma-separated origins, each normalised to what a browser sends in `Origin`. */
function parseAllowedOrigins(r: Reader): string[] {
  const raw = r.raw('ALLOWED_ORIGINS');
  if (!raw) return [];
  const origins: string[] = [];
  for (const entry of raw.value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    let u: URL | undefined;
    try {
      u = new URL(entry);
    } catch {
      u = undefined;
    }
    if (
      !u ||
      !['http:', 'https:'].includes(u.protocol) ||
      u.username ||
      u.password ||
      (u.pathname !== '/' && u.pathname !== '') ||
      u.search ||
      u.hash
    ) {
      r.problems.push(
        `ALLOWED_ORIGINS has ${JSON.stringify(entry)}, which is not an origin; list origins as scheme://host[:port] (e.g. http://my-dashboard.lan:8080), comma-separated, without a path`,
      );
      continue;
    }
    origins.push(u.origin);
  }
  return origins;
}

/** ALLOWED_HOSTS: comma-separated host names (no port, no scheme), compared case-insensitively. */
function parseAllowedHosts(r: Reader): string[] {
  const raw = r.raw('ALLOWED_HOSTS');
  if (!raw) return [];
  const hosts: string[] = [];
  for (const entry of raw.value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$/.test(entry)) {
      r.problems.push(
        `ALLOWED_HOSTS has ${JSON.stringify(entry)}, which is not a host name; list names only (e.g. tickpipe,tickpipe.lan), comma-separated, without scheme or port`,
      );
      continue;
    }
    hosts.push(entry.toLowerCase().replace(/\.$/, ''));
  }
  return hosts;
}

/** Stream names and HA groups become NATS names: letters, digits, '-' and '_' only. */
const NATS_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function parseNats(r: Reader): NatsConfig {
  const raw = r.raw('NATS_URL');
  let servers: string[] | undefined;
  if (raw) {
    servers = raw.value
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    const bad = servers.filter((u) => {
      try {
        const url = new URL(u);
        return !['nats:', 'tls:'].includes(url.protocol) || url.hostname === '';
      } catch {
        return true;
      }
    });
    if (servers.length === 0 || bad.length > 0) {
      r.problems.push(
        `NATS_URL has invalid server URLs ${JSON.stringify(bad.map((u) => u.replace(/\/\/[^@/]*@/, '//<credentials>@')))}; use nats://host:port (or tls://host:port), several separated by commas`,
      );
      servers = undefined;
    }
  }
  const stream = r.str('NATS_STREAM') ?? 'TICKPIPE';
  if (!NATS_NAME.test(stream)) {
    r.problems.push(`NATS_STREAM=${JSON.stringify(stream)} is not a valid stream name; use letters, digits, - and _ (default TICKPIPE)`);
  }
  const nats: NatsConfig = {
    servers,
    stream,
    maxAgeS: r.int('NATS_MAX_AGE_S', [], 86_400, 1, 10 * 365 * 86_400),
    maxInFlight: r.int('NATS_MAX_IN_FLIGHT', [], 4096, 1, 1_000_000),
    ackTimeoutMs: r.int('NATS_ACK_TIMEOUT_MS', [], 5000, 100, 600_000),
    reconnectBaseMs: r.int('NATS_RECONNECT_BASE_MS', [], 250, 10, 600_000),
    reconnectMaxMs: r.int('NATS_RECONNECT_MAX_MS', [], 5000, 100, 600_000),
    pingIntervalMs: r.int('NATS_PING_INTERVAL_MS', [], 5000, 100, 600_000),
  };
  if (nats.reconnectMaxMs < nats.reconnectBaseMs) r.problems.push('NATS_RECONNECT_MAX_MS must be at least NATS_RECONNECT_BASE_MS');
  return nats;
}

function parseHa(r: Reader, natsConfigured: boolean): HaConfig {
  const group = r.str('HA_GROUP');
  if (group !== undefined && !NATS_NAME.test(group)) {
    r.problems.push(`HA_GROUP=${JSON.stringify(group)} is not a valid group name; use letters, digits, - and _ (at most 64)`);
  }
  if (group !== undefined && !natsConfigured && !r.raw('NATS_URL')) {
    r.problems.push('HA_GROUP needs NATS_URL: the leader lease lives in NATS; set NATS_URL=nats://host:4222 or unset HA_GROUP');
  }
  return {
    group,
    instance: r.str('HA_INSTANCE') ?? `${hostname()}-${process.pid}`,
    leaseTtlMs: r.int('HA_LEASE_TTL_S', [], 10, 1, 300) * 1000,
  };
}

function parseGaps(r: Reader): GapsConfig {
  const cal = buildCalendar(r.str('MARKET_HOURS'), r.str('MARKET_HOLIDAYS'));
  r.problems.push(...cal.problems);
  const backfill = r.oneOf('BACKFILL', ['on', 'off'], 'on') === 'on';
  return {
    calendar: cal.value,
    backfill,
    graceMs: r.int('BACKFILL_GRACE_MS', [], 5000, 0, 600_000),
    batchKeys: r.int('BACKFILL_BATCH_KEYS', [], 25, 1, 1000),
    maxAttempts: r.int('BACKFILL_MAX_ATTEMPTS', [], 5, 1, 100),
    retryMs: r.int('BACKFILL_RETRY_MS', [], 30_000, 10),
    retryMaxMs: r.int('BACKFILL_RETRY_MAX_MS', [], 600_000, 10),
    rateLimitMs: r.int('BACKFILL_RATE_LIMIT_MS', [], 2000, 10),
    rateLimitMaxMs: r.int('BACKFILL_RATE_LIMIT_MAX_MS', [], 60_000, 10),
    perSecond: r.int('CANDLE_API_PER_S', [], 50, 1, 10_000),
    perMinute: r.int('CANDLE_API_PER_MIN', [], 500, 1, 100_000),
    markIntervalMs: r.int('GAP_MARK_INTERVAL_MS', [], 2000, 100, 60_000),
  };
}

function parseLimits(r: Reader): SubscriptionLimits {
  return {
    ltpc: { alone: r.int('SUB_LIMIT_LTPC', [], 5000, 1), combined: r.int('SUB_LIMIT_LTPC_COMBINED', [], 2000, 1) },
    option_greeks: {
      alone: r.int('SUB_LIMIT_OPTION_GREEKS', [], 3000, 1),
      combined: r.int('SUB_LIMIT_OPTION_GREEKS_COMBINED', [], 2000, 1),
    },
    full: { alone: r.int('SUB_LIMIT_FULL', [], 2000, 1), combined: r.int('SUB_LIMIT_FULL_COMBINED', [], 1500, 1) },
    full_d30: { alone: r.int('SUB_LIMIT_FULL_D30', [], 50, 1), combined: r.int('SUB_LIMIT_FULL_D30_COMBINED', [], 50, 1) },
  };
}

export function loadConfig(env: Env): Config {
  const r = new Reader(env);
  const accessToken = r.str('UPSTOX_ACCESS_TOKEN', ['ACCESS_TOKEN']);
  const tokenUrl = r.url('UPSTOX_TOKEN_URL', ['API_FETCH_TOKEN'], ['http', 'https']);
  if (!accessToken && !r.raw('UPSTOX_TOKEN_URL', ['API_FETCH_TOKEN'])) {
    r.problems.push(
      'no Upstox token: set UPSTOX_ACCESS_TOKEN (alias ACCESS_TOKEN) to your access token, or UPSTOX_TOKEN_URL (alias API_FETCH_TOKEN) to a URL answering {"access_token":"..."}',
    );
  }
  const instruments = parseInstruments(r);
  const instrumentsUrl = r.url('INSTRUMENTS_URL', ['GET_INSTRUMENTS_URL'], ['http', 'https']);
  const chains = parseChainSpecs(r.str('OPTION_CHAINS') ?? '');
  r.problems.push(...chains.problems);
  if (!r.raw('INSTRUMENTS', ['INSTRUMENTS_LIST']) && !r.raw('INSTRUMENTS_URL', ['GET_INSTRUMENTS_URL']) && !r.raw('OPTION_CHAINS')) {
    r.problems.push(
      'no instruments: set INSTRUMENTS (alias INSTRUMENTS_LIST) to comma-separated keys such as NSE_EQ|INE002A01018,NSE_INDEX|Nifty Bank, or INSTRUMENTS_URL (alias GET_INSTRUMENTS_URL) to a URL answering {"instruments":[...]}',
    );
  }
  const tokenRefreshIst = r.str('TOKEN_REFRESH_IST') ?? '03:35';
  if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(tokenRefreshIst)) {
    r.problems.push(`TOKEN_REFRESH_IST=${JSON.stringify(tokenRefreshIst)} is not HH:MM (24 h, IST); default is 03:35`);
  }
  const masterRefreshIst = r.str('MASTER_REFRESH_IST') ?? '08:30';
  if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(masterRefreshIst)) {
    r.problems.push(`MASTER_REFRESH_IST=${JSON.stringify(masterRefreshIst)} is not HH:MM (24 h, IST); default is 08:30`);
  }
  const influxUrl = r.url('INFLUX_URL', ['INFLUX_DB_URL'], ['http', 'https']);
  const port = r.int('HTTP_PORT', [], 3000, 0, 65535);
  const nats = parseNats(r);

  const config: Config = {
    upstox: {
      accessToken,
      tokenUrl,
      apiUrl: r.url('UPSTOX_API_URL', [], ['https', 'http'], 'https://api.upstox.com') ?? 'https://api.upstox.com',
      instruments,
      instrumentsUrl,
      feedMode: r.oneOf('FEED_MODE', FEED_MODES, 'full'),
      limits: parseLimits(r),
      maxConnections: r.int('UPSTOX_MAX_CONNECTIONS', [], 2, 1, 100),
      reconnectBaseMs: r.int('RECONNECT_BASE_MS', [], 500, 10),
      reconnectMaxMs: r.int('RECONNECT_MAX_MS', [], 30_000, 100),
      stableAfterMs: r.int('RECONNECT_STABLE_MS', [], 60_000, 100),
      staleFeedMs: r.int('STALE_FEED_MS', [], 30_000, 100),
      staleFeedClosedMs: r.int('STALE_FEED_CLOSED_MS', [], 120_000, 100),
      pingIntervalMs: r.int('FEED_PING_INTERVAL_MS', [], 5000, 100),
      pongTimeoutMs: r.int('FEED_PONG_TIMEOUT_MS', [], 5000, 100),
      tokenRefreshIst,
      httpTimeoutMs: r.int('UPSTOX_HTTP_TIMEOUT_MS', [], 10_000, 100),
    },
    influx: {
      url: influxUrl,
      token: influxToken(r),
      org: r.str('INFLUX_ORG', ['INFLUX_DB_ORG']) ?? '',
      bucket: r.str('INFLUX_BUCKET', ['INFLUX_BUCKET_NAME']) ?? '',
      batchMaxPoints: r.int('BATCH_MAX_POINTS', [], 5000, 1, 1_000_000),
      flushIntervalMs: r.int('FLUSH_INTERVAL_MS', [], 1000, 10, 60_000),
      writeTimeoutMs: r.int('INFLUX_TIMEOUT_MS', [], 10_000, 100),
      probeBaseMs: r.int('INFLUX_PROBE_BASE_MS', [], 500, 10),
      probeMaxMs: r.int('INFLUX_PROBE_MAX_MS', [], 15_000, 100),
      extraTags: parseTags(r),
      split5xxAfter: r.int('INFLUX_5XX_SPLIT_AFTER', [], 3, 1, 1000),
      writeLanes: r.int('INFLUX_WRITE_LANES', [], 2, 1, 16),
    },
    spool: {
      path: r.str('SPOOL_PATH') ?? './data/spool.db',
      maxBytes: r.int('SPOOL_MAX_MB', [], 2048, 1) * 1024 * 1024,
      fullPolicy: r.oneOf('SPOOL_FULL_POLICY', SPOOL_FULL_POLICIES, 'drop-oldest'),
      drainChunkPoints: r.int('DRAIN_CHUNK_POINTS', [], 5_000, 1),
      memoryMaxPoints: r.int('SPOOL_MEMORY_MAX_POINTS', [], 500_000, 1),
      lockTimeoutMs: r.int('SPOOL_LOCK_TIMEOUT_S', [], 30, 0, 3600) * 1000,
      deadLetterMax: r.int('DEAD_LETTER_MAX', [], 100_000, 1),
      workerNice: r.int('STORAGE_WORKER_NICE', [], 10, 0, 19),
      workerQueueMaxBytes: r.int('STORAGE_QUEUE_MAX_MB', [], 512, 1, 65_536) * 1024 * 1024,
    },
    notify: {
      url: r.url('NOTIFY_URL', ['DATA_FEED_UPDATE_URL'], ['http', 'https']),
      intervalS: r.num('NOTIFY_INTERVAL_S', ['NOTIFICATION_SLEEP_TIME'], 60, 0, 86_400),
      retryS: r.num('NOTIFY_RETRY_S', ['NOTIFICATION_WAIT_TIME'], 50, 0, 86_400),
      timeoutMs: r.int('NOTIFY_TIMEOUT_MS', [], 10_000, 100),
    },
    http: {
      host: r.str('HTTP_HOST') ?? '127.0.0.1',
      port,
      apiToken: r.str('API_TOKEN'),
      wsMaxBufferedBytes: r.int('WS_MAX_BUFFERED_BYTES', [], 4 * 1024 * 1024, 1024),
      wsMaxClients: r.int('WS_MAX_CLIENTS', [], 256, 1, 100_000),
      allowedOrigins: parseAllowedOrigins(r),
      allowedHosts: parseAllowedHosts(r),
    },
    inspect: r.url('INSPECT', [], ['ws', 'wss']),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    master: {
      url: r.url('INSTRUMENT_MASTER_URL', [], ['https', 'http'], DEFAULT_INSTRUMENT_MASTER_URL) ?? DEFAULT_INSTRUMENT_MASTER_URL,
      refreshIst: masterRefreshIst,
      downloadTimeoutMs: r.int('MASTER_DOWNLOAD_TIMEOUT_MS', [], 120_000, 1000),
    },
    chains: {
      specs: chains.specs,
      mode: r.oneOf('OPTION_CHAIN_MODE', FEED_MODES, 'option_greeks'),
    },
    nats,
    ha: parseHa(r, nats.servers !== undefined),
    gaps: parseGaps(r),
  };
  checkInflux(r, config.influx);
  if (config.upstox.reconnectMaxMs < config.upstox.reconnectBaseMs) {
    r.problems.push('RECONNECT_MAX_MS must be at least RECONNECT_BASE_MS');
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** InfluxDB is configured (INFLUX_URL is set): the one place that decides it. */
export function isInfluxConfigured(influx: Config['influx']): influx is Config['influx'] & { url: string } {
  return influx.url !== undefined;
}
