/**
 * Splits a streamed JSON array of objects (`[{...},{...}]`) into the text of each top-level
 * object, so each can be handed to `JSON.parse` alone and dropped. Memory stays bounded by the
 * largest single object plus one chunk, whatever the size of the file.
 *
 * Why hand-rolled and not `stream-json`: the instrument file is one flat array of small objects;
 * finding object boundaries needs only string/escape tracking and a brace depth (this file),
 * while a token-level streaming parser emits an event per key and value and was measured slower
 * than `JSON.parse` per object (see test/bench/master.bench.ts). `JSON.parse` still validates
 * every object, so malformed input is rejected, not guessed at.
 */
import { TickpipeError } from '../errors.js';

export class JsonArraySplitter {
  /** Text of the object being read, from earlier chunks. */
  private pending = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private ended = false;
  private position = 0;

  /** Feeds the next piece of text; calls `onObject` with the text of each complete object. */
  push(chunk: string, onObject: (json: string) => void): void {
    // Locals rather than fields in the per-character loop: it runs over tens of MB.
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let objectStart = depth > 0 ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (inString) {
        if (escaped) {
          escaped = false;
          continue;
        }
        // Run to the closing quote in a tight inner loop, skipping escaped characters.
        for (; i < n; i++) {
          const s = chunk.charCodeAt(i);
          if (s === 0x22 /* " */) {
            inString = false;
            break;
          }
          if (s === 0x5c /* \\ */) {
            if (i + 1 < n) i++;
            else escaped = true;
          }
        }
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (depth > 0) {
        if (c === 0x22 /* " */) inString = true;
        else if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
        else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
          depth--;
          if (depth === 0) {
            const text = this.pending + chunk.slice(objectStart, i + 1);
            this.pending = '';
            objectStart = -1;
            onObject(text);
          }
        }
        continue;
      }
      // Between objects: only whitespace, the array's brackets and commas may appear.
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c /* , */) continue;
      if (c === 0xfeff && !this.started) continue;
      if (!this.started && c === 0x5b) {
        this.started = true;
        continue;
      }
      if (this.started && !this.ended && c === 0x7b) {
        depth = 1;
        objectStart = i;
        continue;
      }
      if (this.started && !this.ended && c === 0x5d) {
        this.ended = true;
        continue;
      }
      throw this.malformed(`unexpected ${JSON.stringify(chunk[i])}`, i);
    }
    if (objectStart >= 0) this.pending += chunk.slice(objectStart);
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.position += n;
  }

  /** Checks that the array was complete. */
  end(): void {
    if (!this.started || !this.ended || this.depth > 0) throw this.malformed('the array ends early (truncated file?)', 0);
  }

  private malformed(what: string, offset: number): TickpipeError {
    return new TickpipeError(
      'MASTER_INVALID',
      `instrument master is not a JSON array of objects: ${what} at character ${this.position + offset}`,
    );
  }
}
