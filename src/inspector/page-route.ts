/**
 * `GET /inspector`: the offline inspector page (inspector/ at the repository root, copied next
 * to dist/ in the Docker image). The few files are read once at startup and served from memory
 * by name, so no request path ever reaches the file system (no traversal to guard against).
 * The Content-Security-Policy keeps the page from loading anything off this origin: it must
 * work without internet access.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { TickpipeError } from '../errors.js';

export interface InspectorPageOptions {
  /** The directory holding index.html; found next to dist/ or src/ when omitted. */
  dir?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

const CSP =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

function findInspectorDir(): string {
  // dist/src/inspector → ../../../inspector; src/inspector → ../../inspector
  for (const up of ['../../../inspector/', '../../inspector/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  throw new TickpipeError(
    'INSPECTOR_ASSETS_MISSING',
    'inspector/index.html was not found next to dist/ or src/: run from a full checkout, or copy inspector/ next to dist/',
  );
}

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    const path = join(dir, name);
    if (type && statSync(path).isFile()) assets.set(name, { body: readFileSync(path), type });
  }
  if (!assets.has('index.html')) throw new TickpipeError('INSPECTOR_ASSETS_MISSING', `${dir} has no index.html`);
  return assets;
}

const assetParams = { type: 'object', properties: { file: { type: 'string' } }, required: ['file'] } as const;

export const inspectorPageRoute: FastifyPluginAsync<InspectorPageOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<JsonSchemaToTsProvider>();
  const assets = loadAssets(opts.dir ?? findInspectorDir());
  const serve = (reply: FastifyReply, asset: Asset) =>
    reply
      .type(asset.type)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', CSP)
      .send(asset.body);
  const index = assets.get('index.html')!;
  app.get('/inspector', (_req, reply) => serve(reply, index));
  app.get('/inspector/', (_req, reply) => serve(reply, index));
  app.get('/inspector/:file', { schema: { params: assetParams } }, (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset) throw new TickpipeError('INSPECTOR_ASSET_NOT_FOUND', `no inspector asset named ${JSON.stringify(req.params.file)}`);
    return serve(reply, asset);
  });
};
