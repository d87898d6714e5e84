// Data sources (src/data/{dataset,idx-dir,csv,source}.ts): every malformed input a user can hand
// us fails with a DataError naming the file, line and column; the good paths give exact values.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { loadCsv, parseCsv, sanitizeName } from '../src/data/csv.js';
import { DataError, type Dataset } from '../src/data/dataset.js';
import { IdxError } from '../src/data/idx.js';
import { loadIdxDir } from '../src/data/idx-dir.js';
import { loadMnist } from '../src/data/mnist.js';
import { loadData } from '../src/data/source.js';
import { FileBytes } from '../src/data/file-bytes.js';

const root = mkdtempSync(join(tmpdir(), 'btnn-data-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let fileNo = 0;
/** A fresh file in the temp dir, so each case's message can be checked for its own path. */
function file(text: string | Uint8Array, name = 'data.csv'): string {
  const dir = join(root, `f${fileNo++}`);
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function idxBytes(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

interface IdxSet { trainImages: Uint8Array; trainLabels: Uint8Array; testImages: Uint8Array; testLabels: Uint8Array }
function idxSet(nTrain = 6, nTest = 3, rows = 2, cols = 3, classes = 4): IdxSet {
  const px = (n: number, seed: number) => Array.from({ length: n * rows * cols }, (_, i) => (i * 37 + seed) & 0xff);
  const lab = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i + seed) % classes);
  return {
    trainImages: idxBytes([nTrain, rows, cols], px(nTrain, 1)),
    trainLabels: idxBytes([nTrain], lab(nTrain, 0)),
    testImages: idxBytes([nTest, rows, cols], px(nTest, 5)),
    testLabels: idxBytes([nTest], lab(nTest, 1)),
  };
}
function idxDir(s: Partial<IdxSet>, gz = false, testPrefix = 't10k'): string {
  const dir = join(root, `d${fileNo++}`);
  mkdirSync(dir);
  const names: Record<keyof IdxSet, string> = {
    trainImages: 'train-images-idx3-ubyte',
    trainLabels: 'train-labels-idx1-ubyte',
    testImages: `${testPrefix}-images-idx3-ubyte`,
    testLabels: `${testPrefix}-labels-idx1-ubyte`,
  };
  for (const [k, v] of Object.entries(s) as [keyof IdxSet, Uint8Array][]) {
    writeFileSync(join(dir, names[k] + (gz ? '.gz' : '')), gz ? gzipSync(v) : v);
  }
  return dir;
}

/** Throws a DataError whose message matches every pattern. */
function fails(t: Test, fn: () => unknown, ...patterns: (RegExp | string)[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof DataError)) {
    t.fail(`expected a DataError, got ${err === undefined ? 'no error' : String(err)}`);
    return;
  }
  for (const p of patterns) {
    const re = typeof p === 'string' ? new RegExp(esc(p)) : p;
    t.match(err.message, re, `message mentions ${re}`);
  }
}

const plain = (ds: Dataset) => JSON.parse(JSON.stringify(ds, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v)));

// ---------------------------------------------------------------- CSV: good paths

t.test('CSV: numeric block, categorical ids, quoting, CRLF, BOM', async (t) => {
  const train = file(
    '\ufeffage,"city, name",height,y\r\n' +
      '31,"Paris, FR",1.8,yes\r\n' +
      '22,"say ""hi""",1.6,no\r\n' +
      '40,Oslo,1.7,yes\r\n' +
      '35,"Paris, FR",2e0,no',
    'train.csv',
  );
  const test = file('age,"city, name",height,y\n50,Rome,1.5,no\n60,Oslo,1.9,yes\n', 'test.csv');
  const { train: tr, test: te } = loadCsv(train, { label: 'y', test });
  t.equal(tr.name, 'train');
  t.equal(tr.count, 4);
  t.same(tr.source, { kind: 'csv', path: train, sha256: tr.source.sha256, split: 'train', rows: 4, label: 'y' });
  t.match(tr.source.sha256, /^[0-9a-f]{64}$/);
  t.equal(te.source.path, test);
  t.equal(tr.inputs.length, 2);
  const [x, city] = tr.inputs;
  t.same({ name: x.name, dtype: x.dtype, width: x.width, names: x.names }, { name: 'x', dtype: 'f32', width: 2, names: ['age', 'height'] });
  t.same(Array.from(x.data), [31, 1.8, 22, 1.6, 40, 1.7, 35, 2].map(Math.fround));
  t.same({ name: city.name, dtype: city.dtype, width: city.width, names: city.names }, { name: 'city__name', dtype: 'i32', width: 1, names: ['city, name'] });
  t.same(city.vocab, ['<unseen>', 'Paris, FR', 'say "hi"', 'Oslo']);
  t.same(Array.from(city.data), [1, 2, 3, 1]);
  // Rome never appears in train: reserved id 0.
  t.same(Array.from(te.inputs[1].data), [0, 3]);
  t.same(tr.target, { kind: 'classes', classes: 2, names: ['no', 'yes'], data: Int32Array.from([1, 0, 1, 0]) });
  t.same(Array.from((te.target as { data: Int32Array }).data), [0, 1]);
});

t.test('CSV: quoted newlines count lines; blank lines skipped; LF and no trailing newline', async (t) => {
  const p = file('a,b,y\n1,"two\nlines",0\n\n2,x,1\n3,"q",oops\n');
  const tb = parseCsv('a,b,y\n1,"two\nlines",0\n\n2,x,1\n', 'mem.csv');
  t.equal(tb.rows, 2);
  t.equal(tb.line(0), 2);
  t.equal(tb.line(1), 5);
  t.equal(tb.cell(0, 1), 'two\nlines');
  // The class "oops" is in the test rows only (last ⌈0.3·3⌉ = 1 row): line 6.
  fails(t, () => loadCsv(p, { label: 'y', testSplit: 0.3 }), `${p}:6:`, 'column "y"', '"oops"', 'not one of the train');
});

t.test('CSV: targets — numeric classes in numeric order, > 20 distinct values, forced kinds', async (t) => {
  const rows = (labels: (string | number)[]) => 'f,y\n' + labels.map((l, i) => `${i},${l}`).join('\n') + '\n';
  const cls = loadCsv(file(rows([10, 9, 2, 10, '2.0', 9])), { label: 'y', testSplit: 0.2 });
  t.same(cls.train.target, { kind: 'classes', classes: 3, names: ['2', '9', '10'], data: Int32Array.from([2, 1, 0, 2]) });
  t.same(Array.from((cls.test.target as { data: Int32Array }).data), [0, 1]);
  const many = Array.from({ length: 30 }, (_, i) => i * 0.5);
  const reg = loadCsv(file(rows(many)), { label: 'y', testSplit: 0.1 });
  t.equal(reg.train.target.kind, 'values');
  t.same(Array.from(reg.test.target.data), [13.5, 14, 14.5]);
  t.equal(loadCsv(file(rows([...many, ...many])), { label: 'y', testSplit: 0.05, target: 'classes' }).train.target.kind, 'classes');
  t.equal(loadCsv(file(rows([1, 2, 1, 2])), { label: 'y', testSplit: 0.5, target: 'values' }).train.target.kind, 'values');
  const txt = file(rows(['b', 'a', 'B', 'a']));
  t.same((loadCsv(txt, { label: 'y', testSplit: 0.25 }).train.target as { names: string[] }).names, ['B', 'a', 'b']);
  fails(t, () => loadCsv(txt, { label: 'y', testSplit: 0.25, target: 'values' }), `${txt}:2:`, 'column "y"', '"b"', 'not a number');
});

t.test('CSV: testSplit is the last ⌈F·n⌉ rows, the same every time', async (t) => {
  const p = file('a,y\n' + Array.from({ length: 10 }, (_, i) => `${i},${i % 2}`).join('\n'));
  const one = loadCsv(p, { label: 'y', testSplit: 0.25 });
  const two = loadCsv(p, { label: 'y', testSplit: 0.25 });
  t.equal(one.train.count, 7);
  t.equal(one.test.count, 3);
  t.same(Array.from(one.test.inputs[0].data), [7, 8, 9]);
  t.same(plain(one.train), plain(two.train));
  t.same(plain(one.test), plain(two.test));
  t.equal(one.test.source.split, 'test');
  t.equal(one.test.source.sha256, one.train.source.sha256);
});

t.test('CSV: categorical names are sanitised identifiers, unique, never x', async (t) => {
  t.equal(sanitizeName('city name'), 'city_name');
  t.equal(sanitizeName('2nd'), '_2nd');
  t.equal(sanitizeName('é'), '_');
  const p = file('n,x,"a b",a_b,y\n1,u,v,w,0\n2,p,q,r,1\n3,p,q,r,1\n');
  const ds = loadCsv(p, { label: 'y', testSplit: 0.3 }).train;
  t.same(ds.inputs.map((c) => c.name), ['x', 'x_2', 'a_b', 'a_b_2']);
});

// ---------------------------------------------------------------- CSV: malformed

t.test('CSV: each malformed file names file, line, column and value', async (t) => {
  const ok = { label: 'y', testSplit: 0.5 };
  let p = file('');
  fails(t, () => loadCsv(p, ok), `${p}:1:`, 'empty file');
  p = file('\ufeff\n\n');
  fails(t, () => loadCsv(p, ok), `${p}:1:`, 'empty file');
  p = file('a,b,y\n');
  fails(t, () => loadCsv(p, ok), `${p}:1:`, 'header only', 'a, b, y');
  p = file('a,b,a,y\n1,2,3,4\n');
  fails(t, () => loadCsv(p, ok), `${p}:1:`, 'column "a" appears twice', 'columns 1 and 3', 'rename');
  p = file(',a,y\n0,1,2\n');
  fails(t, () => loadCsv(p, ok), `${p}:1:`, 'column 1 has an empty name');
  p = file('a,b,c,y\n1,2,3,4\n5,6\n');
  fails(t, () => loadCsv(p, ok), `${p}:3:`, 'row has 2 cells, the header has 4', 'column "c"', '"6"');
  p = file('a,b,y\n1,2,3\n5,6,7,8\n');
  fails(t, () => loadCsv(p, ok), `${p}:3:`, 'row has 4 cells', '"8"', 'column "y"');
  p = file('a,b,y\n1,2,0\n3,,1\n4,5,0\n6,7,1\n');
  fails(t, () => loadCsv(p, ok), `${p}:3:`, 'column "b"', 'missing value', 'numeric');
  p = file('a,b,y\n1,2,0\n3,4, \n5,6,1\n7,8,0\n');
  fails(t, () => loadCsv(p, ok), `${p}:3:`, 'column "y"', 'missing value', 'label');
  p = file('a,b,y\n1,2,0\n3,4,1\n');
  fails(t, () => loadCsv(p, { label: 'z', testSplit: 0.5 }), `${p}:1:`, '"z"', 'no such column', 'a, b, y');
  fails(t, () => loadCsv(p, { testSplit: 0.5 }), p, '--label', 'a, b, y');
  fails(t, () => loadCsv(p, { label: 'y' }), p, 'a CSV needs --test FILE or --test-split F');
  fails(t, () => loadCsv(p, { label: 'y', testSplit: 0.9 }), p, '--test-split 0.9', 'leaves none');
  fails(t, () => loadCsv(p, { label: 'y', testSplit: 1 }), '--test-split 1', '(0, 1)');
  p = file('a,b,y\n1,"2,0\n3,4,1\n');
  fails(t, () => loadCsv(p, ok), `${p}:2:`, 'column "b"', 'never closes', '"2,0');
  p = file('a,b,y\n1,2,0\n3,4"x,1\n');
  fails(t, () => loadCsv(p, ok), `${p}:3:`, 'column "b"', 'quote inside', '"4\\"x"');
  p = file('a,b,y\n1,"2"x,0\n3,4,1\n');
  fails(t, () => loadCsv(p, ok), `${p}:2:`, 'column "b"', '"x', 'closing quote');
  p = file('y\n1\n2\n');
  fails(t, () => loadCsv(p, { label: 'y', testSplit: 0.5 }), `${p}:1:`, 'only the label column');
});

t.test('CSV: a separate test file is checked against the train split', async (t) => {
  const train = file('a,b,y\n1,red,0\n2,blue,1\n');
  let test = file('a,c,y\n1,red,0\n');
  fails(t, () => loadCsv(train, { label: 'y', test }), `${test}:1:`, 'column 2 is "c"', `${train} has "b"`);
  test = file('a,b\n1,red\n');
  fails(t, () => loadCsv(train, { label: 'y', test }), `${test}:1:`, 'column 3 is missing');
  test = file('a,b,y\n1,red,0\nabc,red,1\n');
  fails(t, () => loadCsv(train, { label: 'y', test }), `${test}:3:`, 'column "a"', '"abc"', 'numeric in the train split');
  test = file('a,b,y\n1,red,0\n,red,1\n');
  fails(t, () => loadCsv(train, { label: 'y', test }), `${test}:3:`, 'column "a"', 'missing value');
  test = file('a,b,y\n1,red,7\n');
  fails(t, () => loadCsv(train, { label: 'y', test }), `${test}:2:`, 'column "y"', '"7"', 'classes (0, 1)');
  fails(t, () => loadCsv(train, { label: 'y', test, testSplit: 0.5 }), 'give one, not both');
  fails(t, () => loadCsv(train, { label: 'y', test: join(root, 'nope.csv') }), 'nope.csv', 'cannot read');
});

// ---------------------------------------------------------------- IDX directories

t.test('IDX dir: shapes, classes, u8 with scale, t10k- or test- names', async (t) => {
  const s = idxSet(6, 3, 2, 3, 4);
  for (const prefix of ['t10k', 'test']) {
    const dir = idxDir(s, false, prefix);
    const { train, test } = loadIdxDir(dir);
    t.equal(train.count, 6);
    t.equal(test.count, 3);
    const x = train.inputs[0];
    t.same({ name: x.name, dtype: x.dtype, width: x.width, scale: x.scale }, { name: 'x', dtype: 'u8', width: 6, scale: 1 / 255 });
    t.ok(x.data instanceof Uint8Array);
    t.same(Array.from(x.data), Array.from(s.trainImages.subarray(16)));
    t.same(train.target, { kind: 'classes', classes: 4, data: Int32Array.from([0, 1, 2, 3, 0, 1]) });
    t.same(Array.from(test.target.data), [1, 2, 3]);
    t.equal(train.source.kind, 'idx');
    t.equal(train.source.rows, 6);
  }
});

t.test('IDX dir: gzipped files equal the plain ones bit for bit', async (t) => {
  const s = idxSet(7, 4, 3, 5, 6);
  const a = loadIdxDir(idxDir(s, false));
  const b = loadIdxDir(idxDir(s, true));
  for (const split of ['train', 'test'] as const) {
    const pa = plain(a[split]);
    const pb = plain(b[split]);
    t.not(pa.source.path, pb.source.path);
    // Only the directory (and the name taken from it) differ.
    for (const d of [pa, pb]) {
      delete d.source.path;
      delete d.name;
    }
    t.same(pb, pa, `${split} identical, sha256 too`);
  }
});

t.test('IDX dir: testSplit carves the last rows; --test names another directory', async (t) => {
  const s = idxSet(10, 3, 2, 2, 3);
  const trainOnly = idxDir({ trainImages: s.trainImages, trainLabels: s.trainLabels });
  const { train, test } = loadIdxDir(trainOnly, { testSplit: 0.2 });
  t.equal(train.count, 8);
  t.equal(test.count, 2);
  t.same(Array.from(test.inputs[0].data), Array.from(s.trainImages.subarray(16 + 8 * 4)));
  const other = idxDir({ trainImages: s.testImages, trainLabels: s.testLabels });
  const viaDir = loadIdxDir(trainOnly, { test: other });
  t.equal(viaDir.test.count, 3);
  t.equal(viaDir.test.source.path, other);
});

t.test('IDX dir: errors name the files', async (t) => {
  const s = idxSet();
  let dir = idxDir({ trainImages: s.trainImages });
  fails(t, () => loadIdxDir(dir), dir, 'no train labels file', 'train-labels-idx1-ubyte, train-labels-idx1-ubyte.gz');
  dir = idxDir({ trainImages: s.trainImages, trainLabels: s.trainLabels });
  fails(t, () => loadIdxDir(dir), dir, 'no test split', 't10k-images-idx3-ubyte[.gz]', 'test-labels-idx1-ubyte[.gz]', '--test-split');
  dir = idxDir({ ...s, testLabels: idxBytes([2], [0, 1]) });
  fails(t, () => loadIdxDir(dir), join(dir, 't10k-labels-idx1-ubyte'), '2 labels but', 'has 3 images');
  dir = idxDir({ ...s, trainImages: s.trainImages.subarray(0, s.trainImages.length - 5) });
  fails(t, () => loadIdxDir(dir), join(dir, 'train-images-idx3-ubyte'), 'data truncated');
  dir = idxDir({ ...s, trainImages: s.trainImages.subarray(0, s.trainImages.length - 5) }, true);
  fails(t, () => loadIdxDir(dir), join(dir, 'train-images-idx3-ubyte.gz'), 'after gunzip', 'data truncated');
  dir = idxDir({ ...s, testLabels: idxBytes([3], [0, 1, 4]) });
  fails(t, () => loadIdxDir(dir), join(dir, 't10k-labels-idx1-ubyte'), 'label[2] = 4', '0..3');
  dir = idxDir({ ...s, testImages: idxBytes([3, 3, 3], new Array(27).fill(0)) });
  fails(t, () => loadIdxDir(dir), join(dir, 't10k-images-idx3-ubyte'), '9 values per image', 'have 6');
  dir = join(root, `g${fileNo++}`);
  mkdirSync(dir);
  const gz = gzipSync(s.trainImages);
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 8));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), s.trainLabels);
  fails(t, () => loadIdxDir(dir), join(dir, 'train-images-idx3-ubyte.gz'), 'not a valid gzip file');
});

// ---------------------------------------------------------------- loadData

t.test('loadData("mnist"): 60000/10000 rows, u8 pixels = loadMnist f32·255', async (t) => {
  const { train, test } = loadData('mnist');
  t.equal(train.name, 'mnist');
  t.equal(train.count, 60000);
  t.equal(test.count, 10000);
  t.equal(train.source.kind, 'mnist');
  for (const [ds, split] of [[train, 'train'], [test, 'test']] as const) {
    const old = loadMnist(split);
    const x = ds.inputs[0];
    t.equal(x.dtype, 'u8');
    t.equal(x.width, 784);
    t.equal(x.scale, 1 / 255);
    // Both image files stay in their files (FileBytes: 47 and 7.8 MB, over ON_DISK_BYTES); read them whole here to compare.
    const bytes = x.data instanceof FileBytes ? x.data.slice() : x.data;
    t.ok(x.data instanceof FileBytes, `${split}: read from the file a row at a time`);
    let bad = 0;
    for (let i = 0; i < old.inputs.length; i++) if (bytes[i] !== Math.round(old.inputs[i] * 255)) bad++;
    t.equal(bad, 0, `${split}: every pixel equal`);
    t.same(Array.from(ds.target.data), Array.from(old.labels));
    t.equal((ds.target as { classes: number }).classes, 10);
  }
  const few = loadData('mnist', { limitTrain: 100, limitTest: 10 });
  t.equal(few.train.count, 100);
  t.equal(few.test.count, 10);
  t.equal(few.train.source.rows, 60000);
  t.same(Array.from(few.test.inputs[0].data as Uint8Array), Array.from((test.inputs[0].data as Uint8Array).subarray(0, 7840)));
  const carved = loadData('mnist', { testSplit: 0.1 });
  t.equal(carved.train.count, 54000);
  t.equal(carved.test.count, 6000);
});

t.test('loadData: dispatch and refused options', async (t) => {
  const csv = file('a,y\n1,0\n2,1\n3,0\n', 'any.txt');
  t.equal(loadData(csv, { label: 'y', testSplit: 0.3 }).train.count, 2);
  fails(t, () => loadData(csv, { label: 'y' }), 'a CSV needs --test FILE or --test-split F');
  const dir = idxDir(idxSet());
  t.equal(loadData(dir).train.count, 6);
  fails(t, () => loadData(dir, { label: 'y' }), '--label y', 'CSV sources only', dir);
  fails(t, () => loadData('mnist', { label: 'y' }), '--label y', 'not mnist');
  fails(t, () => loadData('mnist', { limitTrain: 60001 }), '--limit-train 60001', 'at most 60000');
  fails(t, () => loadData('mnist', { limitTest: 0 }), '--limit-test 0', '>= 1');
  fails(t, () => loadData(join(root, 'missing.csv')), 'missing.csv', 'no such file or directory');
});

// ---------------------------------------------------------------- fuzz

/** Seeded LCG (Numerical Recipes constants): the same mutations on every run and machine. */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}
const kInsert = [0x22, 0x2c, 0x0a, 0x0d, 0x22, 0x2c, 0x0a, 0x20, 0x00, 0xff, 0x2d, 0x65, 0x2e];

function mutate(bytes: Uint8Array, rnd: (n: number) => number): Uint8Array {
  let b = Uint8Array.from(bytes);
  const steps = 1 + rnd(3);
  for (let s = 0; s < steps; s++) {
    const at = rnd(b.length + 1);
    switch (rnd(4)) {
      case 0: // truncate
        b = b.slice(0, at);
        break;
      case 1: // flip a byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << rnd(8);
        break;
      case 2: { // insert a quote, comma, newline, …
        const c = new Uint8Array(b.length + 1);
        c.set(b.subarray(0, at));
        c[at] = kInsert[rnd(kInsert.length)];
        c.set(b.subarray(at), at + 1);
        b = c;
        break;
      }
      default: // random byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = rnd(256);
    }
  }
  return b;
}

function onlyDataErrors(t: Test, what: string, fn: () => unknown): boolean {
  try {
    fn();
  } catch (e) {
    if (e instanceof DataError || e instanceof IdxError) return true;
    t.fail(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  return false;
}

t.test('fuzz: 1000 mutated CSVs raise only DataError', async (t) => {
  const rnd = lcg(0x5eed);
  const base = new TextEncoder().encode(
    'num,"cat, x",z,label\r\n' + Array.from({ length: 12 }, (_, i) => `${i * 1.5},"c ""${i % 3}""",${i % 4 === 0 ? 'q' : i},${i % 3}`).join('\r\n') + '\r\n',
  );
  const testBase = new TextEncoder().encode('num,"cat, x",z,label\n1,"c ""1""",2,1\n3,new,4,2\n');
  let errors = 0;
  for (let i = 0; i < 1000; i++) {
    const p = file(mutate(base, rnd), 'fuzz.csv');
    const sep = rnd(3) === 0;
    const test = sep ? file(rnd(2) ? mutate(testBase, rnd) : testBase, 'fuzz-test.csv') : undefined;
    const target = rnd(4) === 0 ? 'values' : undefined;
    if (onlyDataErrors(t, `mutation ${i}`, () => loadCsv(p, sep ? { label: 'label', test, target } : { label: 'label', testSplit: 0.25, target }))) errors++;
  }
  t.ok(errors > 100 && errors < 1000, `${errors} of 1000 mutations rejected, the rest loaded`);
});

t.test('fuzz: 1000 mutated IDX directories raise only DataError/IdxError', async (t) => {
  const rnd = lcg(0x1d8);
  const s = idxSet(5, 3, 2, 2, 3);
  const keys = Object.keys(s) as (keyof IdxSet)[];
  let errors = 0;
  for (let i = 0; i < 1000; i++) {
    const key = keys[rnd(4)];
    const gz = rnd(3) === 0;
    const files = { ...s };
    // Mutate the gzip stream itself half the time, so gunzip sees damaged input too.
    let dir: string;
    if (gz && rnd(2) === 0) {
      dir = idxDir(s, true);
      writeFileSync(join(dir, { trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte', testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte' }[key] + '.gz'), mutate(gzipSync(s[key]), rnd));
    } else {
      files[key] = mutate(s[key], rnd);
      dir = idxDir(files, gz);
    }
    const split = rnd(4) === 0 ? 0.4 : undefined;
    if (onlyDataErrors(t, `mutation ${i} of ${key}`, () => loadIdxDir(dir, { testSplit: split }))) errors++;
  }
  t.ok(errors > 500, `${errors} of 1000 mutations rejected`);
});
