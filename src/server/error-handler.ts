/**
 * One answer shape for every refused or failed request, Fastify's own:
 * `{statusCode, code, error, message}`. The service's typed errors (src/errors.ts) map to a status
 * here, by their stable code, so a route only throws; Fastify's errors (schema validation, bad
 * JSON, body too large) keep their status and `FST_...` code. Anything else is a bug: it is
 * logged once with its stack, and the client gets a 500 without one.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, TickpipeError } from '../errors.js';
import { redactQuery } from '../redact.js';

/** The status of each code a request can provoke; other TickpipeErrors are the service's fault. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  API_TOKEN_MISSING: 401,
  API_TOKEN_WRONG: 401,
  REMOTE_MUTATION_FORBIDDEN: 403,
  HOST_FORBIDDEN: 403,
  ORIGIN_FORBIDDEN: 403,
  INSPECTOR_ASSET_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SUBSCRIPTION_REFUSED: 422,
};

interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function isFastifyError(err: unknown): err is FastifyError & { statusCode: number } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    typeof (err as { statusCode?: unknown }).statusCode === 'number'
  );
}

async function handleError(this: FastifyInstance, err: unknown, req: FastifyRequest, reply: FastifyReply): Promise<ErrorBody> {
  let body: ErrorBody;
  if (err instanceof TickpipeError && STATUS_BY_CODE[err.code] !== undefined) {
    body = errorBody(STATUS_BY_CODE[err.code]!, err.code, err.message);
  } else if (isFastifyError(err) && err.statusCode >= 400 && err.statusCode < 500) {
    body = errorBody(err.statusCode, err.code, err.message);
  } else {
    req.log.error({ err }, `${req.method} ${req.routeOptions.url ?? redactQuery(req.url)} failed`);
    const code = err instanceof TickpipeError ? err.code : 'INTERNAL_ERROR';
    body = errorBody(500, code, 'the service failed to answer this request; its log says why');
  }
  if (body.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
  return reply.code(body.statusCode).send(body);
}

async function handleNotFound(req: FastifyRequest, reply: FastifyReply): Promise<ErrorBody> {
  return reply
    .code(404)
    .send(
      errorBody(
        404,
        'ROUTE_NOT_FOUND',
        `no route ${req.method} ${JSON.stringify(req.url.split('?')[0].slice(0, 100))}; the README lists the API`,
      ),
    );
}

/** Installs the handlers on `app` (before its routes are registered, so every plugin inherits them). */
export function useApiErrors(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
}
