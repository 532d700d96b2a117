/**
 * protobufjs reflection types for the V3 schema, loaded once from proto/MarketDataFeedV3.proto.
 * Used to *encode* (the simulator) and as the reference decoder in tests and the benchmark
 * baseline; the service's decoding goes through ./codec.ts.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const PROTO_PACKAGE = 'com.upstox.marketdatafeederv3udapi.rpc.proto';

/** Finds proto/ from wherever this module runs (src/ under tsx, dist/src/ when built). */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'MarketDataFeedV3.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('proto/MarketDataFeedV3.proto not found above ' + fileURLToPath(import.meta.url));
}

export interface FeedSchema {
  root: protobuf.Root;
  FeedResponse: protobuf.Type;
}

let cached: FeedSchema | undefined;

export function feedSchema(): FeedSchema {
  if (!cached) {
    const root = protobuf.loadSync(protoPath());
    cached = { root, FeedResponse: root.lookupType(`${PROTO_PACKAGE}.FeedResponse`) };
  }
  return cached;
}

/** Encodes a plain object (proto field names) as a FeedResponse frame. */
export function encodeFeedResponse(message: Record<string, unknown>): Uint8Array {
  const { FeedResponse } = feedSchema();
  return FeedResponse.encode(FeedResponse.fromObject(message)).finish();
}
