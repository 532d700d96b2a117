/**
 * Gzipped instrument file → MasterIndex, streamed: gunzip, decode UTF-8 across chunk boundaries,
 * split into objects, keep the few fields we need. Peak memory is the index plus one chunk
 * (test/bench/master.bench.ts measures it against `JSON.parse` of the whole file).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { TickpipeError } from '../errors.js';
import { JsonArraySplitter } from './json-array-splitter.js';
import { MasterIndex, pickInstrument } from './master-index.js';

export interface ParseResult {
  index: MasterIndex;
  /** Objects in the file without an instrument_key or trading_symbol (skipped). */
  skipped: number;
}

/** Parses a stream of (uncompressed) JSON text chunks. */
export async function parseMasterText(text: AsyncIterable<Buffer | string>): Promise<ParseResult> {
  const index = new MasterIndex();
  const splitter = new JsonArraySplitter();
  const decoder = new StringDecoder('utf8');
  let skipped = 0;
  const onObject = (json: string): void => {
    let o: unknown;
    try {
      o = JSON.parse(json);
    } catch (err) {
      throw new TickpipeError('MASTER_INVALID', `instrument master has an invalid entry: ${(err as Error).message}`, { cause: err });
    }
    const inst = pickInstrument(o as Record<string, unknown>);
    if (inst) index.add(inst);
    else skipped++;
  };
  for await (const chunk of text) splitter.push(typeof chunk === 'string' ? chunk : decoder.write(chunk), onObject);
  splitter.push(decoder.end(), onObject);
  splitter.end();
  return { index, skipped };
}

/** Parses a gzipped stream (the file as Upstox serves it). */
export async function parseMasterGzip(gz: Readable): Promise<ParseResult> {
  const gunzip = createGunzip();
  gz.on('error', (err) => gunzip.destroy(err));
  try {
    return await parseMasterText(gz.pipe(gunzip));
  } catch (err) {
    if (err instanceof TickpipeError) throw err;
    throw new TickpipeError('MASTER_INVALID', `instrument master is not a valid gzip file: ${(err as Error).message}`, { cause: err });
  } finally {
    gunzip.destroy();
  }
}

export function parseMasterFile(path: string): Promise<ParseResult> {
  return parseMasterGzip(createReadStream(path));
}
