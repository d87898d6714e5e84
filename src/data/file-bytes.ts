// Bytes of a large uncompressed file read where they lie: a training set of 60 000 images is read
// a row at a time (one pread of 784 bytes; the OS page cache keeps the file, outside the process's
// memory) instead of being held as 47 MB in the process. The runtime copies a batch's rows out at
// once, so a returned view is only valid until the next read.
import { closeSync, openSync, readSync } from 'node:fs';

// A FileBytes nobody closed (a library caller's dataset dropped) gives its descriptor back when collected.
const unclosed = new FinalizationRegistry<number>((fd) => { try { closeSync(fd); } catch { /* already closed */ } });

export class FileBytes {
  private fd: number;
  private buf = new Uint8Array(4096);

  constructor(readonly path: string, private readonly offset: number, readonly length: number) {
    this.fd = openSync(path, 'r');
    unclosed.register(this, this.fd, this);
  }

  /** Bytes [start, end) — a view into a buffer the next read reuses: copy before reading again. */
  subarray(start: number, end = this.length): Uint8Array {
    if (!(start >= 0 && start <= this.length)) throw new RangeError(`${this.path}: byte ${start} is outside 0..${this.length}`);
    if (this.fd < 0) throw new Error(`${this.path}: read after close`);
    const n = Math.max(0, Math.min(end, this.length) - start);
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 2 * this.buf.length));
    let got = 0;
    while (got < n) {
      const r = readSync(this.fd, this.buf, got, n - got, this.offset + start + got);
      if (r === 0) throw new Error(`${this.path}: ended at byte ${this.offset + start + got}; the file changed while btnn read it`);
      got += r;
    }
    return this.buf.subarray(0, n);
  }

  /** Bytes [start, end) as an array of their own (a carved split). */
  slice(start = 0, end = this.length): Uint8Array { return Uint8Array.from(this.subarray(start, end)); }

  /** Consecutive chunks of all bytes (each valid until the next). */
  *chunks(bytes = 1 << 20): Generator<Uint8Array> {
    for (let at = 0; at < this.length; at += bytes) yield this.subarray(at, Math.min(this.length, at + bytes));
  }

  close(): void {
    if (this.fd < 0) return;
    unclosed.unregister(this);
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Calls fn on consecutive chunks of a byte column, in memory or on disk. */
export function forEachChunk(data: Uint8Array | FileBytes, fn: (chunk: Uint8Array) => void): void {
  if (data instanceof FileBytes) for (const c of data.chunks()) fn(c);
  else fn(data);
}
