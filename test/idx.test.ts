import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { IdxError, parseIdx, readIdxFile } from '../src/data/idx.js';
import { loadMnist, MnistError } from '../src/data/mnist.js';

// Builds an IDX unsigned-byte file by hand (big-endian dims), independent of the parser.
function idxBytes(dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => {
    out[4 + 4 * i] = (d >>> 24) & 0xff;
    out[5 + 4 * i] = (d >>> 16) & 0xff;
    out[6 + 4 * i] = (d >>> 8) & 0xff;
    out[7 + 4 * i] = d & 0xff;
  });
  out.set(data, 4 + 4 * dims.length);
  return out;
}

t.test('round trip of a hand-built 3-D file', async (t) => {
  const data = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 11) & 0xff);
  const arr = parseIdx(idxBytes([2, 3, 4], data), 'hand.idx');
  t.same(arr.dims, [2, 3, 4]);
  t.same(Array.from(arr.data), data);
  t.ok(arr.data instanceof Uint8Array);
});

t.test('big-endian dims above 255 decode', async (t) => {
  const arr = parseIdx(idxBytes([258], new Array(258).fill(1)), 'big.idx');
  t.same(arr.dims, [258]);
  t.equal(arr.data.length, 258);
});

t.test('readIdxFile reads from disk and names the path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-idx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'labels-idx1-ubyte');
  writeFileSync(path, idxBytes([3], [7, 2, 1]));
  const arr = readIdxFile(path);
  t.same(arr.dims, [3]);
  t.same(Array.from(arr.data), [7, 2, 1]);
  writeFileSync(path, idxBytes([4], [7, 2, 1]));
  t.throws(() => readIdxFile(path), { message: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) });
});

t.test('truncated image file reports expected and actual bytes', async (t) => {
  const full = idxBytes([2, 28, 28], new Array(2 * 784).fill(0));
  const cut = full.subarray(0, full.length - 10);
  t.throws(() => parseIdx(cut, 't10k-images-idx3-ubyte'), IdxError);
  t.throws(
    () => parseIdx(cut, 't10k-images-idx3-ubyte'),
    /^t10k-images-idx3-ubyte: data truncated: .*expected 1568 data bytes.*actual 1558/,
  );
});

t.test('truncated header rejected', async (t) => {
  const full = idxBytes([2, 28, 28], []);
  t.throws(() => parseIdx(full.subarray(0, 10), 'h'), /h: header truncated: 3 dims need 16 header bytes, file has 10/);
  t.throws(() => parseIdx(new Uint8Array([0, 0, 8]), 'tiny'), /tiny: file is 3 bytes/);
});

t.test('trailing bytes rejected', async (t) => {
  const bytes = idxBytes([3], [1, 2, 3, 4, 5]);
  // idxBytes with more data than dims gives 2 extra bytes.
  t.throws(() => parseIdx(bytes, 'x'), /x: 2 trailing bytes: .*expected 3 data bytes.*actual 5/);
});

t.test('wrong magic rejected with the value', async (t) => {
  const bytes = new Uint8Array([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
  t.throws(
    () => parseIdx(bytes, 't10k-images-idx3-ubyte'),
    new IdxError(
      't10k-images-idx3-ubyte: wrong magic 0x12345678, expected 0x00000803 or 0x00000801 ' +
        '(IDX unsigned-byte file); is this an MNIST IDX file (not gzipped)?',
    ),
  );
});

t.test('gzip detected', async (t) => {
  const bytes = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);
  t.throws(() => parseIdx(bytes, 'train.gz'), /train\.gz: file is gzip-compressed .*gunzip/);
});

t.test('unsupported type and bad ndims rejected', async (t) => {
  const f32 = idxBytes([1], [0, 0, 0, 0]);
  f32[2] = 0x0d;
  t.throws(() => parseIdx(f32, 'f'), /f: IDX element type 0x0d \(float32\) not supported; only 0x08/);
  const zeroDims = new Uint8Array([0, 0, 8, 0]);
  t.throws(() => parseIdx(zeroDims, 'z'), /z: number of dims = 0, must be 1\.\.4/);
  const fiveDims = idxBytes([1, 1, 1, 1, 1], [9]);
  t.throws(() => parseIdx(fiveDims, 'v'), /v: number of dims = 5/);
});

t.test('real MNIST test split', async (t) => {
  const ds = loadMnist('test');
  t.equal(ds.name, 'mnist-test');
  t.equal(ds.count, 10000);
  t.equal(ds.features, 784);
  t.equal(ds.classes, 10);
  t.equal(ds.inputs.length, 10000 * 784);
  t.equal(ds.labels.length, 10000);
  t.equal(ds.labels[0], 7);
  const counts = new Array(10).fill(0);
  for (const l of ds.labels) counts[l]++;
  t.same(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.inputs) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  t.equal(min, 0);
  t.equal(max, 1);
});

t.test('limit takes the first samples', async (t) => {
  const all = loadMnist('test');
  const few = loadMnist('test', 5);
  t.equal(few.count, 5);
  t.equal(few.inputs.length, 5 * 784);
  t.same(Array.from(few.labels), Array.from(all.labels.subarray(0, 5)));
  t.same(Array.from(few.inputs), Array.from(all.inputs.subarray(0, 5 * 784)));
  t.throws(() => loadMnist('test', 10001), /limit = 10001: exceeds the 10000 samples/);
  t.throws(() => loadMnist('test', -1), /limit = -1: must be an integer >= 0/);
});

t.test('loads from another directory and validates it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-mnist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pixels = Array.from({ length: 2 * 784 }, (_, i) => (i % 2 ? 255 : 51));
  const images = join(dir, 'train-images-idx3-ubyte');
  const labels = join(dir, 'train-labels-idx1-ubyte');
  writeFileSync(images, idxBytes([2, 28, 28], pixels));
  writeFileSync(labels, idxBytes([2], [3, 9]));
  const ds = loadMnist('train', undefined, dir);
  t.equal(ds.name, 'mnist-train');
  t.equal(ds.count, 2);
  t.same(Array.from(ds.labels), [3, 9]);
  t.equal(ds.inputs[0], Math.fround(0.2));
  t.equal(ds.inputs[1], 1);

  writeFileSync(labels, idxBytes([2], [3, 10]));
  t.throws(() => loadMnist('train', undefined, dir), MnistError);
  t.throws(() => loadMnist('train', undefined, dir), /label\[1\] = 10, must be < 10/);
  writeFileSync(labels, idxBytes([3], [3, 9, 1]));
  t.throws(() => loadMnist('train', undefined, dir), /3 labels but .* has 2 images/);
  writeFileSync(labels, idxBytes([2, 1], [3, 9]));
  t.throws(() => loadMnist('train', undefined, dir), /dims \[2, 1\], expected \[n\]/);
  writeFileSync(images, idxBytes([2, 784], pixels));
  t.throws(() => loadMnist('train', undefined, dir), /dims \[2, 784\], expected \[n, 28, 28\]/);
  t.throws(() => loadMnist('test', undefined, dir), /t10k-images-idx3-ubyte: file not found; check the directory/);
});
