// A directory of IDX files as a Dataset pair: train-images-idx3-ubyte + train-labels-idx1-ubyte,
// and the test pair named t10k-… (as the MNIST downloads are) or test-…; each may be .gz, as
// the downloads come. MNIST, Fashion-MNIST, KMNIST and EMNIST all ship in this layout.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { FileBytes, forEachChunk } from './file-bytes.js';
import { basename, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError, splitTestRows, type Dataset } from './dataset.js';
import { IdxError, parseIdx, type IdxArray } from './idx.js';

export interface IdxDirOptions {
  /** Another directory whose test pair (or, lacking one, train pair) is the test split. */
  test?: string;
  /** Carve the last ⌈F·n⌉ train rows as the test split instead of reading a test pair. */
  testSplit?: number;
  kind?: 'idx' | 'mnist';
  /** Dataset name; default the directory's base name. */
  name?: string;
  /** Fixed class count (MNIST: 10) instead of max train label + 1. */
  classes?: number;
}

const kPrefixes = { train: ['train'], test: ['t10k', 'test'] } as const;

interface IdxFile { path: string; bytes: Uint8Array | FileBytes; arr: { dims: number[]; data: Uint8Array | FileBytes } }
interface IdxPair { images: IdxFile; labels: IdxFile; sha256: string }

/** The first existing name among prefix-suffix(.gz) in dir; a plain file wins over its .gz. */
function findFile(dir: string, prefixes: readonly string[], suffix: string, looked: string[]): string | undefined {
  for (const p of prefixes) {
    for (const ext of ['', '.gz']) {
      const path = join(dir, `${p}-${suffix}${ext}`);
      looked.push(`${p}-${suffix}${ext}`);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

/**
 * Uncompressed image files larger than this stay on disk (FileBytes), read a row at a time:
 * MNIST's test images too (7.8 MB; evaluation reads them in order, and npm start peaks ~3 MB lower).
 */
export const ON_DISK_BYTES = 4 << 20;

/**
 * The header of a large uncompressed IDX file, checked as parseIdx checks a whole one (u8 data,
 * 1..4 dims, exactly the bytes the dims say), and its data left in the file.
 */
function readIdxOnDisk(path: string, size: number): IdxFile | null {
  const fd = openSync(path, 'r');
  const head = new Uint8Array(24);
  try { readSync(fd, head, 0, 24, 0); } finally { closeSync(fd); }
  const d = head[3];
  if (head[0] !== 0 || head[1] !== 0 || head[2] !== 0x08 || d < 1 || d > 4) return null; // parseIdx names what is wrong
  const dims = Array.from({ length: d }, (_, k) => new DataView(head.buffer).getUint32(4 + 4 * k, false));
  const headerBytes = 4 + 4 * d;
  const n = dims.reduce((p, x) => p * x, 1);
  if (headerBytes + n !== size) return null;
  const data = new FileBytes(path, headerBytes, n);
  return { path, bytes: new FileBytes(path, 0, size), arr: { dims, data } };
}

function readIdx(path: string, mayStayOnDisk = false): IdxFile {
  if (mayStayOnDisk && !path.endsWith('.gz')) {
    const size = statSync(path).size;
    const onDisk = size > ON_DISK_BYTES ? readIdxOnDisk(path, size) : null;
    if (onDisk) return onDisk;
  }
  let bytes: Uint8Array;
  try {
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as Error).message}); check the path and its permissions`, { cause: err });
  }
  let source = path;
  if (path.endsWith('.gz')) {
    try {
      const buf = gunzipSync(bytes);
      bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      throw new DataError(
        `${path}: not a valid gzip file (${(err as Error).message}); the download is damaged or ` +
          `truncated, fetch it again (or gunzip it yourself and keep the plain file)`,
        { cause: err },
      );
    }
    source = `${path} (after gunzip)`;
  }
  try {
    return { path, bytes, arr: parseIdx(bytes, source) };
  } catch (err) {
    // One error type for every data problem, with IdxError's message (it names the path).
    if (err instanceof IdxError) throw new DataError(err.message, { cause: err });
    throw err;
  }
}

/** Read the split's pair from dir, or undefined if neither file exists. */
function readPair(dir: string, split: 'train' | 'test', required: boolean): IdxPair | undefined {
  const looked: string[] = [];
  const imagesPath = findFile(dir, kPrefixes[split], 'images-idx3-ubyte', looked);
  const labelsPath = findFile(dir, kPrefixes[split], 'labels-idx1-ubyte', looked);
  if (imagesPath === undefined && labelsPath === undefined && !required) return undefined;
  if (imagesPath === undefined || labelsPath === undefined) {
    const missing = imagesPath === undefined ? 'images' : 'labels';
    throw new DataError(
      `${dir}: no ${split} ${missing} file; looked for ${looked.filter((n) => n.includes(missing)).join(', ')} ` +
        `(have ${imagesPath ?? labelsPath ?? 'neither'}); add the file or rename yours to one of those names`,
    );
  }
  const images = readIdx(imagesPath, true);
  const labels = readIdx(labelsPath);
  if (images.arr.dims.length < 2) {
    throw new DataError(
      `${imagesPath}: dims [${images.arr.dims.join(', ')}], expected [n, rows, cols]; is this an images file ` +
        `(a labels file has one dim)?`,
    );
  }
  if (labels.arr.dims.length !== 1) {
    throw new DataError(`${labelsPath}: dims [${labels.arr.dims.join(', ')}], expected [n]; is this a labels file?`);
  }
  const n = images.arr.dims[0];
  if (labels.arr.dims[0] !== n) {
    throw new DataError(
      `${labelsPath}: ${labels.arr.dims[0]} labels but ${imagesPath} has ${n} images; ` +
        `the files come from different splits or copies`,
    );
  }
  if (n === 0) throw new DataError(`${imagesPath}: 0 images; the file holds no samples`);
  if (images.arr.data.length / n === 0) {
    throw new DataError(`${imagesPath}: dims [${images.arr.dims.join(', ')}] give 0 values per image; the header is corrupt`);
  }
  // sha256 of the IDX bytes after gunzip, so a .gz and a plain copy of the same data agree.
  const hash = createHash('sha256');
  for (const f of [images, labels]) forEachChunk(f.bytes, (c) => hash.update(c));
  const sha256 = hash.digest('hex');
  // The whole-file reader was for the hash only; the images keep their own.
  for (const f of [images, labels]) if (f.bytes instanceof FileBytes && f.bytes !== f.arr.data) f.bytes.close();
  return { images, labels, sha256 };
}

function pairDataset(
  pair: IdxPair,
  start: number,
  end: number,
  classes: number,
  info: { name: string; kind: 'idx' | 'mnist'; path: string; split: 'train' | 'test' },
): Dataset {
  const { images, labels } = pair;
  const width = images.arr.data.length / images.arr.dims[0];
  const lab = labels.arr.data as Uint8Array; // labels are always read into memory
  for (let i = start; i < end; i++) {
    if (lab[i] >= classes) {
      throw new DataError(
        `${labels.path}: label[${i}] = ${lab[i]}, but the train split's labels are 0..${classes - 1}; ` +
          `the ${info.split} labels come from another label set, or the file is corrupt`,
      );
    }
  }
  return {
    name: info.name,
    source: { kind: info.kind, path: info.path, sha256: pair.sha256, split: info.split, rows: end - start },
    count: end - start,
    // A view when the split is the whole file (the file's 16-byte header is all it pins, and a
    // 60 000-image set is then held once, not twice, at load); a copy of a carved part.
    inputs: [{
      name: 'x', dtype: 'u8', width, scale: 1 / 255,
      data: start === 0 && end * width === images.arr.data.length ? images.arr.data : images.arr.data.slice(start * width, end * width),
    }],
    target: { kind: 'classes', classes, data: Int32Array.from(lab.subarray(start, end)) },
  };
}

/**
 * The test pair of an IDX directory alone, for scoring a trained model: `classes` come from the
 * model (a test label beyond them is an error), and no train pair is needed.
 */
export function loadIdxTest(dir: string, classes: number, limit?: number): Dataset {
  const pair = readPair(dir, 'test', false);
  if (pair === undefined) {
    const names = kPrefixes.test.flatMap((p) => [`${p}-images-idx3-ubyte[.gz]`, `${p}-labels-idx1-ubyte[.gz]`]);
    throw new DataError(`${dir}: no test pair to score on; looked for ${names.join(', ')}`);
  }
  const n = pair.images.arr.dims[0];
  const count = limit === undefined ? n : Math.min(n, limit);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) throw new DataError(`--limit-test ${limit}: must be an integer >= 1 (or omit it for all rows)`);
  return pairDataset(pair, 0, count, classes, { name: basename(resolve(dir)), kind: 'idx', path: dir, split: 'test' });
}

export function loadIdxDir(dir: string, o: IdxDirOptions = {}): { train: Dataset; test: Dataset } {
  const kind = o.kind ?? 'idx';
  const name = o.name ?? basename(resolve(dir));
  if (o.test !== undefined && o.testSplit !== undefined) {
    throw new DataError(`--test ${o.test} and --test-split ${o.testSplit}: give one, not both`);
  }
  const train = readPair(dir, 'train', true)!;
  const n = train.images.arr.dims[0];
  const nTest = o.testSplit === undefined ? 0 : splitTestRows(n, o.testSplit, dir);
  const nTrain = n - nTest;

  let classes = o.classes;
  if (classes === undefined) {
    let max = 0;
    const lab = train.labels.arr.data as Uint8Array;
    for (let i = 0; i < nTrain; i++) if (lab[i] > max) max = lab[i];
    classes = max + 1;
    if (classes < 2) {
      throw new DataError(`${train.labels.path}: every train label is 0; a classifier needs at least 2 classes`);
    }
  }
  const trainSet = pairDataset(train, 0, nTrain, classes, { name, kind, path: dir, split: 'train' });

  let testSet: Dataset;
  if (o.testSplit !== undefined) {
    // Fixed split by row index (the last rows), no RNG: the same files give the same split.
    testSet = pairDataset(train, nTrain, n, classes, { name, kind, path: dir, split: 'test' });
  } else {
    const testDir = o.test ?? dir;
    // Another directory may hold its data under either pair's names; the test names win.
    const pair = readPair(testDir, 'test', false) ?? (o.test !== undefined ? readPair(testDir, 'train', false) : undefined);
    if (pair === undefined) {
      const names = kPrefixes.test.flatMap((p) => [`${p}-images-idx3-ubyte[.gz]`, `${p}-labels-idx1-ubyte[.gz]`]);
      throw new DataError(
        `${testDir}: no test split; looked for ${names.join(', ')}` +
          (o.test !== undefined ? ', train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]' : '') +
          `; add the test files, or use --test DIR or --test-split F`,
      );
    }
    const w = trainSet.inputs[0].width;
    const tw = pair.images.arr.data.length / pair.images.arr.dims[0];
    if (tw !== w) {
      throw new DataError(
        `${pair.images.path}: dims [${pair.images.arr.dims.join(', ')}] give ${tw} values per image, but the train ` +
          `images (${train.images.path}) have ${w}; the test files must come from the same dataset`,
      );
    }
    testSet = pairDataset(pair, 0, pair.images.arr.dims[0], classes, { name, kind, path: testDir, split: 'test' });
  }
  return { train: trainSet, test: testSet };
}
