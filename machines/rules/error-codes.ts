/**
 * The stable error codes: every code that reaches /state, the logs or the metrics is one of
 * these, so the compiler refuses a typo or an undocumented code. Users alert on them; the
 * README's troubleshooting table explains each.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'FRAME_MALFORMED'
  | 'TOKEN_REJECTED'
  | 'TOKEN_FETCH_FAILED'
  | 'AUTHORIZE_FAILED'
  | 'FEED_SOCKET'
  | 'FEED_STALE'
  | 'FEED_PONG_TIMEOUT'
  | 'SUBSCRIPTION_REFUSED'
  | 'INSTRUMENTS_FETCH_FAILED'
  | 'MASTER_FETCH_FAILED'
  | 'MASTER_INVALID'
  | 'CHAIN_INVALID'
  | 'INFLUX_NOT_CONFIGURED'
  | 'INFLUX_UNAUTHORIZED'
  | 'INFLUX_FORBIDDEN'
  | 'INFLUX_BUCKET_NOT_FOUND'
  | 'INFLUX_UNAVAILABLE'
  | 'INFLUX_BAD_REQUEST'
  | 'SPOOL_FAILED'
  /** The spool is held by another process (a second instance, an open sqlite3 transaction). */
  | 'SPOOL_LOCKED'
  | 'NOTIFY_FAILED'
  | 'INSPECTOR_ASSETS_MISSING'
  | 'INSPECTOR_ASSET_NOT_FOUND'
  | 'ROUTE_NOT_FOUND'
  | 'API_TOKEN_MISSING'
  | 'API_TOKEN_WRONG'
  | 'REMOTE_MUTATION_FORBIDDEN'
  | 'CANDLES_TOKEN_REJECTED'
  | 'CANDLES_KEY_REJECTED'
  | 'CANDLES_OUT_OF_RANGE'
  | 'CANDLES_RATE_LIMITED'
  | 'CANDLES_UNAVAILABLE'
  | 'GAP_LEDGER_FAILED'
  /** gaps.db is locked by another process: gap records wait (in order) and are retried; /gaps may answer 503. */
  | 'GAP_LEDGER_BUSY'
  | 'HOST_FORBIDDEN'
  | 'ORIGIN_FORBIDDEN'
  /** NATS is not connected: a lease request could not be made. */
  | 'NATS_UNAVAILABLE'
  /** The HA lease was taken or removed behind this instance's back. */
  | 'LEASE_LOST'
  /** The storage worker thread (spool, InfluxDB writes) died after it started: the service stops. */
  | 'STORAGE_WORKER_FAILED'
  /** Something failed without saying which of the above it is (a bug to report). */
  | 'UNEXPECTED';

const CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'CONFIG_INVALID',
  'FRAME_MALFORMED',
  'TOKEN_REJECTED',
  'TOKEN_FETCH_FAILED',
  'AUTHORIZE_FAILED',
  'FEED_SOCKET',
  'FEED_STALE',
  'FEED_PONG_TIMEOUT',
  'SUBSCRIPTION_REFUSED',
  'INSTRUMENTS_FETCH_FAILED',
  'MASTER_FETCH_FAILED',
  'MASTER_INVALID',
  'CHAIN_INVALID',
  'INFLUX_NOT_CONFIGURED',
  'INFLUX_UNAUTHORIZED',
  'INFLUX_FORBIDDEN',
  'INFLUX_BUCKET_NOT_FOUND',
  'INFLUX_UNAVAILABLE',
  'INFLUX_BAD_REQUEST',
  'SPOOL_FAILED',
  'SPOOL_LOCKED',
  'NOTIFY_FAILED',
  'INSPECTOR_ASSETS_MISSING',
  'INSPECTOR_ASSET_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'API_TOKEN_MISSING',
  'API_TOKEN_WRONG',
  'REMOTE_MUTATION_FORBIDDEN',
  'CANDLES_TOKEN_REJECTED',
  'CANDLES_KEY_REJECTED',
  'CANDLES_OUT_OF_RANGE',
  'CANDLES_RATE_LIMITED',
  'CANDLES_UNAVAILABLE',
  'GAP_LEDGER_FAILED',
  'GAP_LEDGER_BUSY',
  'HOST_FORBIDDEN',
  'ORIGIN_FORBIDDEN',
  'NATS_UNAVAILABLE',
  'LEASE_LOST',
  'STORAGE_WORKER_FAILED',
  'UNEXPECTED',
]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}
