/**
 * What main sends the storage worker, in order, in as few messages as possible. Frames (and the
 * symbols their keys need) are copied into a FrameBatch and join the outbox every few
 * milliseconds, or at once past a size; any other message joins it behind the frames pushed
 * before it. The outbox goes out as one message once the current turn of the event loop is done
 * (setImmediate), with the frame buffers transferred, and the worker applies it in one go: the
 * calls the actors make in one transition (the writer opening the route, the drainer starting to
 * drain) reach the write path together, as they did when it ran on this thread.
 */
import { FrameBatch } from './frame-batch.js';
import type { SymbolEntry, ToWorker, ToWorkerBatch } from './protocol.js';

/**
 * Frames wait this long to be posted together (the write path batches for far longer anyway).
 * Each post costs main a structured clone and the worker a wake-up, whatever it carries: at 50
 * frames/s (10,000 updates/s of 200 instruments), 25 ms puts about two frames in each, where 5 ms
 * posted every frame alone.
 */
const COALESCE_MS = 25;
/** ...or until this many bytes wait. */
const POST_BYTES = 1024 * 1024;

export class Outbox {
  private readonly frames = new FrameBatch();
  private frameTimer: NodeJS.Timeout | undefined;
  private items: ToWorker[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  private symbols: SymbolEntry[] = [];
  /** Frames and bytes handed to the outbox's port so far (the worker's progress is compared with them). */
  postedFrames = 0n;
  postedBytes = 0n;

  constructor(
    private readonly port: { postMessage(m: ToWorkerBatch, transfer: ArrayBuffer[]): void },
    /** False once nothing may be sent any more (the worker failed or was ended). */
    private readonly mayPost: () => boolean,
  ) {}

  /** Frames copied but not yet handed over. */
  get waiting(): { frames: number; bytes: number } {
    return { frames: this.frames.count, bytes: this.frames.byteLength };
  }

  addFrame(raw: Uint8Array, receivedAt: number): void {
    this.frames.add(raw, receivedAt);
    if (this.frames.byteLength >= POST_BYTES) this.sendFrames();
    else this.frameTimer ??= setTimeout(() => this.sendFrames(), COALESCE_MS);
  }

  /** A key's symbol, to go before the next frames. */
  addSymbol(entry: SymbolEntry): void {
    this.symbols.push(entry);
  }

  /** Any message but frames: behind the frames (and symbols) waiting. */
  push(m: ToWorker): void {
    this.moveFrames();
    this.items.push(m);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.send());
    }
  }

  stop(): void {
    clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
  }

  private sendFrames(): void {
    this.moveFrames();
    this.send();
  }

  /** The symbols and frames waiting join the items (their buffers to be transferred). */
  private moveFrames(): void {
    this.stop();
    if (this.symbols.length > 0) {
      this.items.push({ t: 'symbols', entries: this.symbols, swap: false });
      this.symbols = [];
    }
    const f = this.frames.take();
    if (!f) return;
    this.postedFrames += BigInt(f.count);
    this.postedBytes += BigInt(f.byteLength);
    this.items.push({ t: 'frames', bytes: f.bytes, index: f.index, count: f.count });
    this.transfer.push(f.bytes, f.index);
  }

  private send(): void {
    this.scheduled = false;
    if (!this.mayPost() || this.items.length === 0) return;
    const items = this.items;
    const transfer = this.transfer;
    this.items = [];
    this.transfer = [];
    this.port.postMessage({ t: 'batch', items }, transfer);
  }
}
