// Rows of fixed-size 32-bit words in a file, read where they lie (a parsed click log: 40 words a
// row, 45·10⁶ rows = 7 GB): the OS page cache keeps the file, the process keeps a small row cache.
// Columns are views of some words of every row; a batch reads each of its rows once (one pread of
// a whole row) however many columns the model has, because the cache holds the last rows read.
import { closeSync, openSync, readSync } from 'node:fs';

/** Rows the direct-mapped cache holds: a minibatch's rows stay while every column copies them. */
const CACHE_ROWS = 8192;

// A RowFile nobody closed gives its descriptor back when collected.
const unclosed = new FinalizationRegistry<number>((fd) => { try { closeSync(fd); } catch { /* already closed */ } });

export class RowFile {
  private fd: number;
  private refs = 0;
  private readonly slab: Uint8Array;
  private readonly tags = new Float64Array(CACHE_ROWS).fill(-1);
  readonly rowBytes: number;

  constructor(readonly path: string, readonly rowWords: number, readonly rows: number) {
    this.rowBytes = rowWords * 4;
    this.slab = new Uint8Array(CACHE_ROWS * this.rowBytes);
    this.fd = openSync(path, 'r');
    unclosed.register(this, this.fd, this);
  }

  retain(): this { this.refs++; return this; }

  /** Drops one holder; the descriptor closes with the last. */
  release(): void {
    if (--this.refs > 0 || this.fd < 0) return;
    unclosed.unregister(this);
    closeSync(this.fd);
    this.fd = -1;
  }

  /** Byte offset in the slab of row r (read into the cache when it is not there). */
  rowAt(r: number): number {
    if (!(Number.isInteger(r) && r >= 0 && r < this.rows)) throw new RangeError(`${this.path}: row ${r} is outside 0..${this.rows - 1}`);
    const slot = r % CACHE_ROWS, at = slot * this.rowBytes;
    if (this.tags[slot] !== r) {
      this.fill(at, r, 1);
      this.tags[slot] = r;
    }
    return at;
  }

  get buffer(): ArrayBuffer { return this.slab.buffer as ArrayBuffer; }

  /** Rows [first, first + count) into a new buffer (one read; sequential scans). */
  readRows(first: number, count: number): Uint8Array {
    const out = new Uint8Array(count * this.rowBytes);
    this.read(out, 0, first, count);
    return out;
  }

  private fill(at: number, r: number, count: number): void { this.read(this.slab, at, r, count); }

  private read(into: Uint8Array, at: number, first: number, count: number): void {
    if (this.fd < 0) throw new Error(`${this.path}: read after close`);
    const n = count * this.rowBytes, pos = first * this.rowBytes;
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, into, at + got, n - got, pos + got);
      if (k === 0) throw new Error(`${this.path}: ended at byte ${pos + got}; the file changed while btnn read it`);
      got += k;
    }
  }
}

/**
 * `width` words at word `word` of rows [first, first + rows) of a RowFile, as f32 or u32 values: a
 * row source (subarray of one row at a time gives a view valid until the next read), sliceable
 * without copying.
 */
export class FileColumn {
  readonly length: number;

  constructor(readonly file: RowFile, readonly word: number, readonly width: number, readonly dtype: 'f32' | 'u32',
              readonly first = 0, readonly rows = file.rows - first) {
    if (!(word >= 0 && word + width <= file.rowWords)) throw new RangeError(`column words ${word}..${word + width - 1} outside a row of ${file.rowWords}`);
    if (!(first >= 0 && rows >= 0 && first + rows <= file.rows)) throw new RangeError(`column rows ${first}..${first + rows - 1} outside the file's ${file.rows}`);
    this.length = rows * width;
    file.retain();
  }

  /** Values [start, end) of whole rows: one row is a view into the row cache (copy before the next read). */
  subarray(start: number, end: number): Float32Array | Uint32Array {
    const w = this.width, r = start / w;
    if (!(Number.isInteger(r) && end - start === w)) return this.copy(start, end);
    const at = this.file.rowAt(this.first + r) + this.word * 4;
    return this.dtype === 'f32' ? new Float32Array(this.file.buffer, at, w) : new Uint32Array(this.file.buffer, at, w);
  }

  /** Rows [start/width, end/width) as a column of their own over the same file (no copy). */
  slice(start = 0, end = this.length): FileColumn {
    const w = this.width;
    if (start % w !== 0 || end % w !== 0 || start < 0 || end > this.length || start > end) throw new RangeError(`slice(${start}, ${end}) is not whole rows of width ${w} in 0..${this.length}`);
    return new FileColumn(this.file, this.word, w, this.dtype, this.first + start / w, (end - start) / w);
  }

  /** Calls fn with consecutive blocks of whole rows of this column (sequential reads of 4096 rows). */
  scan(fn: (values: Float32Array | Uint32Array, firstRow: number) => void): void {
    const block = 4096, w = this.width, rw = this.file.rowWords;
    for (let r = 0; r < this.rows; r += block) {
      const n = Math.min(block, this.rows - r);
      const bytes = this.file.readRows(this.first + r, n);
      const words = this.dtype === 'f32' ? new Float32Array(bytes.buffer) : new Uint32Array(bytes.buffer);
      const out = this.dtype === 'f32' ? new Float32Array(n * w) : new Uint32Array(n * w);
      for (let i = 0; i < n; i++) for (let j = 0; j < w; j++) out[i * w + j] = words[i * rw + this.word + j];
      fn(out, r);
    }
  }

  /** All values in memory (small splits: the test labels). */
  toArray(): Float32Array | Uint32Array {
    const out = this.dtype === 'f32' ? new Float32Array(this.length) : new Uint32Array(this.length);
    this.scan((v, r) => out.set(v, r * this.width));
    return out;
  }

  close(): void { this.file.release(); }

  private copy(start: number, end: number): Float32Array | Uint32Array {
    const out = this.dtype === 'f32' ? new Float32Array(end - start) : new Uint32Array(end - start);
    for (let i = start; i < end; i++) {
      const r = Math.floor(i / this.width), j = i - r * this.width;
      out[i - start] = this.subarray(r * this.width, (r + 1) * this.width)[j];
    }
    return out;
  }
}

/** u32 values reduced modulo `buckets` (hashed category ids into a table of that many rows), as i32. */
export class HashedIds {
  readonly length: number;
  private readonly out: Int32Array;

  constructor(readonly column: FileColumn, readonly buckets: number) {
    this.length = column.length;
    this.out = new Int32Array(column.width);
  }

  subarray(start: number, end: number): Int32Array {
    const raw = this.column.subarray(start, end);
    const out = raw.length === this.out.length ? this.out : new Int32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] % this.buckets;
    return out;
  }
}
