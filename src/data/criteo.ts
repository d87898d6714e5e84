// `--data criteo:FILE`: the Criteo Kaggle / DLRM click-log text format, read as a stream. A line
// is 40 tab-separated fields: the label (0 or 1), 13 integer features I1..I13 and 26 categorical
// features C1..C26, 32-bit hexadecimal hashes; any feature may be empty. DLRM's preprocessing:
// an integer x becomes log(1 + max(x, 0)) (empty: 0); a categorical value is kept as its 32-bit
// number (empty: 0) and reduced modulo its table's rows when a batch is read (the table sizes are
// the model's, so one parse serves any spec).
//
// The text is read once in 4 MiB chunks (never whole), parsed into rows of 40 words (label f32,
// 13 f32, 26 u32) written to a cache file beside nothing of the user's (--cache-dir, default
// ~/.cache/btnn), keyed by the log's path, size and mtime; training reads rows from there
// (row-file.ts). A malformed line (wrong field count, a label other than 0/1, a non-integer
// numeric field, a categorical field that is not 1..8 hex digits) is skipped and counted;
// more than --max-bad-lines of them stop the parse with the first one's line number and reason.
// The held-out split is fixed by row index: the last ⌈F·n⌉ rows (default F = 1/7, DLRM's
// Kaggle split: day 7 of 7 is held out).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync, accessSync, constants } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataError, splitTestRows, type Column, type Dataset } from './dataset.js';
import { FileColumn, RowFile } from './row-file.js';
import { Progress, type LogStream } from '../util/progress.js';

export const CRITEO_DENSE = 13;
export const CRITEO_CATS = 26;
export const CRITEO_FIELDS = 1 + CRITEO_DENSE + CRITEO_CATS;
/** Words of a parsed row: label, the dense features, the categorical hashes. */
export const CRITEO_ROW_WORDS = CRITEO_FIELDS;
/** The default held-out fraction: DLRM holds out the last of Criteo Kaggle's 7 days. */
export const CRITEO_TEST_SPLIT = 1 / 7;
/** Bump when the cache layout or the preprocessing changes. */
const CACHE_VERSION = 1;
const CHUNK_BYTES = 4 << 20;
const MAX_LINE_BYTES = 64 << 20;

export const CRITEO_FIELD_NAMES = ['label', ...Array.from({ length: CRITEO_DENSE }, (_, i) => `I${i + 1}`), ...Array.from({ length: CRITEO_CATS }, (_, i) => `C${i + 1}`)];
export const CATEGORICAL_INPUTS = CRITEO_FIELD_NAMES.slice(1 + CRITEO_DENSE);
export const DENSE_INPUT = 'dense';

/**
 * Rows of the 26 Criteo Kaggle tables (DLRM's counts for the Kaggle day split); the five largest,
 * C3, C4, C12, C16, C21, are the ones the paper tensorizes (METHOD.md §1.9).
 */
export const KAGGLE_CARDINALITIES = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27,
  14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572];

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) { HEX[65 + c] = 10 + c; HEX[97 + c] = 10 + c; }

/**
 * Parses one line (bytes [start, end), no newline) into row `r` of `f32`/`u32` (two views of the
 * same words). Returns null, or why the line is malformed.
 */
export function parseCriteoLine(buf: Uint8Array, start: number, end: number, f32: Float32Array, u32: Uint32Array, r: number): string | null {
  if (end > start && buf[end - 1] === 13) end--; // \r\n
  if (end === start) return `is empty (expected ${CRITEO_FIELDS} tab-separated fields)`;
  const base = r * CRITEO_ROW_WORDS;
  let field = 0, at = start;
  const show = (a: number, b: number): string => JSON.stringify(Buffer.from(buf.buffer, buf.byteOffset + a, Math.min(b - a, 24)).toString('latin1') + (b - a > 24 ? '…' : ''));
  for (;;) {
    let stop = at;
    while (stop < end && buf[stop] !== 9) stop++;
    if (field >= CRITEO_FIELDS) return `has more than ${CRITEO_FIELDS} fields`;
    if (field === 0) {
      if (stop - at !== 1 || (buf[at] !== 48 && buf[at] !== 49)) return `label ${show(at, stop)} is not 0 or 1`;
      f32[base] = buf[at] - 48;
    } else if (field <= CRITEO_DENSE) {
      let v = 0, i = at, neg = false;
      if (i < stop && buf[i] === 45) { neg = true; i++; if (i === stop) return `${CRITEO_FIELD_NAMES[field]} ${show(at, stop)} is not an integer`; }
      for (; i < stop; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) return `${CRITEO_FIELD_NAMES[field]} ${show(at, stop)} is not an integer`;
        v = v * 10 + d;
      }
      f32[base + field] = neg ? 0 : Math.log1p(v);
    } else {
      if (stop - at > 8) return `${CRITEO_FIELD_NAMES[field]} ${show(at, stop)} is not a 32-bit hexadecimal value (at most 8 hex digits)`;
      let h = 0;
      for (let i = at; i < stop; i++) {
        const d = HEX[buf[i]];
        if (d < 0) return `${CRITEO_FIELD_NAMES[field]} ${show(at, stop)} is not hexadecimal`;
        h = h * 16 + d;
      }
      u32[base + field] = h;
    }
    field++;
    if (stop >= end) break;
    at = stop + 1;
  }
  if (field !== CRITEO_FIELDS) return `has ${field} field${field === 1 ? '' : 's'}, expected ${CRITEO_FIELDS} (label, ${CRITEO_DENSE} integer and ${CRITEO_CATS} hexadecimal categorical features, tab-separated)`;
  return null;
}

/** What a parse found; kept beside the cache so a reused cache reports the same. */
export interface CriteoParse {
  version: number;
  source: { path: string; bytes: number; mtimeMs: number };
  rows: number;
  badLines: number;
  firstBad: { line: number; reason: string } | null;
  /** The file does not end with a newline (its last line may be cut). */
  endsMidLine: boolean;
  sha256: string;
}

export interface CriteoReadOptions {
  /** Malformed lines to skip before stopping (default 100). */
  maxBadLines?: number;
  /** Where parsed logs are cached (default $BTNN_CACHE_DIR or ~/.cache/btnn). */
  cacheDir?: string;
  log?: LogStream | null;
}

export const DEFAULT_MAX_BAD_LINES = 100;

export function defaultCacheDir(): string { return process.env.BTNN_CACHE_DIR || join(homedir(), '.cache', 'btnn'); }

/** The parsed rows of `path` (parsing it when no cache of this exact file exists): the cache file and what the parse found. */
export function parseCriteo(path: string, o: CriteoReadOptions = {}): { rowsPath: string; parse: CriteoParse } {
  const maxBad = o.maxBadLines ?? DEFAULT_MAX_BAD_LINES;
  if (!(Number.isSafeInteger(maxBad) && maxBad >= 0)) throw new DataError(`--max-bad-lines ${maxBad}: must be an integer >= 0`);
  let st;
  try { st = statSync(path); } catch { throw new DataError(`--data criteo:${path}: no such file; give the path of a Criteo Kaggle / DLRM text log (make one with \`btnn data synth-criteo\`)`); }
  if (!st.isFile()) throw new DataError(`--data criteo:${path}: not a file; give the path of a Criteo text log`);
  const source = { path: resolve(path), bytes: st.size, mtimeMs: st.mtimeMs };
  const dir = o.cacheDir ?? defaultCacheDir();
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new DataError(`--cache-dir ${dir}: cannot write the parsed log there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a writable --cache-dir`);
  }
  const key = createHash('sha1').update(JSON.stringify({ v: CACHE_VERSION, ...source })).digest('hex').slice(0, 20);
  const rowsPath = join(dir, `criteo-${key}.rows`), metaPath = join(dir, `criteo-${key}.json`);
  if (existsSync(metaPath) && existsSync(rowsPath)) {
    try {
      const parse = JSON.parse(readFileSync(metaPath, 'utf8')) as CriteoParse;
      if (parse.version === CACHE_VERSION && statSync(rowsPath).size === parse.rows * CRITEO_ROW_WORDS * 4) {
        checkBad(path, parse, maxBad);
        o.log?.write(`btnn: ${path}: ${parse.rows} rows, parsed before (${rowsPath})\n`);
        return { rowsPath, parse };
      }
    } catch (err) {
      if (err instanceof DataError) throw err;
      // An unreadable cache is parsed again.
    }
  }
  const tmp = `${rowsPath}.${process.pid}.tmp`;
  const out = openSync(tmp, 'w');
  let ok = false;
  try {
    const parse = parseInto(path, source, out, maxBad, o.log ?? null);
    closeSync(out);
    renameSync(tmp, rowsPath);
    const metaTmp = `${metaPath}.${process.pid}.tmp`;
    writeFileSync(metaTmp, JSON.stringify(parse, null, 1));
    renameSync(metaTmp, metaPath);
    ok = true;
    return { rowsPath, parse };
  } finally {
    if (!ok) { try { closeSync(out); } catch { /* closed */ } rmSync(tmp, { force: true }); }
  }
}

function checkBad(path: string, p: CriteoParse, maxBad: number): void {
  if (p.badLines > maxBad) {
    throw new DataError(`--data criteo:${path}: line ${p.firstBad!.line} ${p.firstBad!.reason}; ${p.badLines} malformed line${p.badLines === 1 ? '' : 's'}${p.rows > 0 ? '' : ' and no good one'}, more than --max-bad-lines ${maxBad}; fix the file or raise --max-bad-lines`);
  }
}

function parseInto(path: string, source: CriteoParse['source'], out: number, maxBad: number, log: LogStream | null): CriteoParse {
  const fd = openSync(path, 'r');
  const hash = createHash('sha256');
  const progress = log ? new Progress(`parse ${path}`, source.bytes, log) : null;
  const t0 = performance.now();
  // Parsed rows go out in blocks; a line's bytes are never held beyond its chunk (plus a carried tail).
  const BLOCK_ROWS = 4096;
  const words = new Uint32Array(BLOCK_ROWS * CRITEO_ROW_WORDS), f32 = new Float32Array(words.buffer);
  let buf = new Uint8Array(CHUNK_BYTES);
  let have = 0, filePos = 0, line = 0, rows = 0, inBlock = 0, bad = 0;
  let firstBad: CriteoParse['firstBad'] = null;
  let endsMidLine = false;
  const flush = (): void => {
    if (inBlock > 0) writeSync(out, new Uint8Array(words.buffer, 0, inBlock * CRITEO_ROW_WORDS * 4));
    inBlock = 0;
  };
  const take = (s: number, e: number): void => {
    line++;
    const why = parseCriteoLine(buf, s, e, f32, words, inBlock);
    if (why !== null) {
      bad++;
      firstBad ??= { line, reason: why };
      if (bad > maxBad) { flush(); checkBad(path, { rows, badLines: bad, firstBad } as CriteoParse, maxBad); }
      return;
    }
    rows++;
    if (++inBlock === BLOCK_ROWS) flush();
  };
  try {
    for (;;) {
      if (have === buf.length) {
        // A line longer than the buffer: grow it (a real log's lines are a few hundred bytes).
        if (buf.length >= MAX_LINE_BYTES) throw new DataError(`--data criteo:${path}: line ${line + 1} is longer than ${MAX_LINE_BYTES >> 20} MiB; this is not a Criteo text log`);
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, filePos);
      if (n === 0) break;
      hash.update(buf.subarray(have, have + n));
      filePos += n;
      const end = have + n;
      let s = 0;
      for (let i = have; i < end; i++) {
        if (buf[i] === 10) { take(s, i); s = i + 1; }
      }
      buf.copyWithin(0, s, end);
      have = end - s;
      progress?.update(filePos, `${rows} rows, ${(filePos / 1e6 / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(0)} MB/s`);
    }
    if (have > 0) { endsMidLine = true; take(0, have); }
    flush();
  } finally {
    closeSync(fd);
  }
  if (rows === 0) {
    throw new DataError(firstBad ? `--data criteo:${path}: no well-formed line; line ${(firstBad as { line: number }).line} ${(firstBad as { reason: string }).reason}` : `--data criteo:${path}: the file is empty`);
  }
  const secs = (performance.now() - t0) / 1000;
  progress?.done(`${rows} rows, ${bad} malformed, ${(filePos / 1e6 / Math.max(1e-3, secs)).toFixed(0)} MB/s`);
  if (bad > 0 && log) log.write(`btnn: warning: ${path}: skipped ${bad} malformed line${bad === 1 ? '' : 's'}; the first, line ${firstBad!.line}, ${firstBad!.reason}\n`);
  if (endsMidLine && log) log.write(`btnn: warning: ${path} does not end with a newline: its last line may be cut\n`);
  return { version: CACHE_VERSION, source, rows, badLines: bad, firstBad, endsMidLine, sha256: hash.digest('hex') };
}

export interface CriteoLoadOptions extends CriteoReadOptions {
  /** Held-out fraction, the last rows (default 1/7). */
  testSplit?: number;
}

/** Train and test Datasets over the parsed rows of a Criteo log (columns read from the cache file). */
export function loadCriteo(path: string, o: CriteoLoadOptions = {}): { train: Dataset; test: Dataset } {
  const { rowsPath, parse } = parseCriteo(path, o);
  const n = parse.rows;
  const test = splitTestRows(n, o.testSplit ?? CRITEO_TEST_SPLIT, path);
  const file = new RowFile(rowsPath, CRITEO_ROW_WORDS, n);
  const split = (which: 'train' | 'test', first: number, rows: number): Dataset => {
    const inputs: Column[] = [
      { name: DENSE_INPUT, dtype: 'f32', width: CRITEO_DENSE, data: new FileColumn(file, 1, CRITEO_DENSE, 'f32', first, rows), names: CRITEO_FIELD_NAMES.slice(1, 1 + CRITEO_DENSE) },
      ...CATEGORICAL_INPUTS.map((name, j): Column => ({ name, dtype: 'i32', width: 1, data: new FileColumn(file, 1 + CRITEO_DENSE + j, 1, 'u32', first, rows), hashed: true })),
    ];
    const labels = new FileColumn(file, 0, 1, 'f32', first, rows);
    // The test labels are read into memory (AUC wants them all); the training labels stay in the file.
    let data: Float32Array | FileColumn = labels;
    if (which === 'test') { data = labels.toArray() as Float32Array; labels.close(); }
    return {
      name: `criteo:${path}`,
      source: { kind: 'criteo', path, sha256: parse.sha256, split: which, rows, label: 'label', badLines: parse.badLines },
      count: rows, inputs, target: { kind: 'values', width: 1, data },
    };
  };
  return { train: split('train', 0, n - test), test: split('test', n - test, test) };
}
