/**
 * The simulator's plain HTTP side: Upstox's authorize endpoint, plus the two helper URLs the
 * service can be configured with (token URL, instruments URL). node:http is enough here: three
 * GET routes, and the upgrade path needs the raw socket anyway (see upgrade.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CANDLE_PREFIX, handleCandles } from './candle-routes.js';
import type { SimContext } from './context.js';
import { bearerToken } from './tokens.js';

export const AUTHORIZE_PATH = '/v3/feed/market-data-feed/authorize';
export const FEED_PATH = '/v3/feed/market-data-feed';
export const TOKEN_PATH = '/token';
export const INSTRUMENTS_PATH = '/instruments';
export const INSTRUMENT_FILE_PATH = '/instruments/complete.json.gz';

/** Upstox's error body, with both spellings of the fields as the real API sends them. */
export function upstoxError(errorCode: string, message: string): object {
  return {
    status: 'error',
    errors: [
      { errorCode, message, propertyPath: null, invalidValue: null, error_code: errorCode, property_path: null, invalid_value: null },
    ],
  };
}

export const INVALID_TOKEN = upstoxError('UDAPI100050', 'Invalid token used to access API');

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function handleRequest(ctx: SimContext, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://sim');
  if (req.method !== 'GET') {
    reply(res, 405, upstoxError('UDAPI100060', `${req.method} is not allowed here; use GET`), { allow: 'GET' });
    return;
  }
  switch (url.pathname) {
    case AUTHORIZE_PATH:
      authorize(ctx, req, res);
      return;
    case TOKEN_PATH:
      reply(res, 200, { access_token: ctx.tokens.token });
      return;
    case INSTRUMENTS_PATH:
      reply(res, 200, { instruments: ctx.instruments });
      return;
    case INSTRUMENT_FILE_PATH:
      instrumentFile(ctx, res);
      return;
    default:
      if (url.pathname.startsWith(CANDLE_PREFIX)) {
        handleCandles(ctx, req, url.pathname, (status, body) => reply(res, status, body), upstoxError);
        return;
      }
      reply(res, 404, upstoxError('UDAPI100060', `no such resource: ${url.pathname}`));
  }
}

function authorize(ctx: SimContext, req: IncomingMessage, res: ServerResponse): void {
  ctx.stats.authorizeCalls++;
  const failure = ctx.faults.takeAuthorizeFailure();
  if (failure) {
    ctx.stats.authorizeRejected++;
    ctx.log.info({ status: failure.status }, 'authorize: injected failure');
    if (failure.status === 429) {
      reply(res, 429, upstoxError('UDAPI10005', 'Too Many Request Sent'), { 'retry-after': String(failure.retryAfterS) });
    } else {
      reply(res, 500, upstoxError('UDAPI100500', 'Something went wrong'));
    }
    return;
  }
  if (!ctx.tokens.isValid(bearerToken(req.headers.authorization))) {
    ctx.stats.authorizeRejected++;
    ctx.log.info('authorize: invalid token');
    reply(res, 401, INVALID_TOKEN);
    return;
  }
  // The Host the client used, so the URI also works behind a port mapping (Docker demo).
  const uri = `ws://${req.headers.host}${FEED_PATH}?code=${ctx.tokens.issueCode()}`;
  reply(res, 200, { status: 'success', data: { authorized_redirect_uri: uri, authorizedRedirectUri: uri } });
}

function instrumentFile(ctx: SimContext, res: ServerResponse): void {
  if (ctx.faults.instrumentFileFailing) {
    ctx.log.info('instrument file: injected failure');
    reply(res, 500, upstoxError('UDAPI100500', 'Something went wrong'));
    return;
  }
  ctx.instrumentBook.gzipped(ctx.now()).then(
    (gz) => {
      // The real file is served as a gzip object (not Content-Encoding): the client gunzips it.
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': gz.length });
      res.end(gz);
    },
    (err: unknown) => {
      ctx.log.error({ err }, 'instrument file: gzip failed');
      reply(res, 500, upstoxError('UDAPI100500', 'instrument file could not be built'));
    },
  );
}
