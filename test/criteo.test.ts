// The Criteo click-log reader (src/data/criteo.ts), the synthetic log (src/data/synth-criteo.ts)
// and a small DLRM trained on one: hand-made lines with every malformed case, a file cut
// mid-line, --max-bad-lines, the cache (reused, never half-written), the hashed ids, the fixed
// held-out split, the generator's determinism and sidecar, AUC against a direct computation.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CRITEO_ROW_WORDS, KAGGLE_CARDINALITIES, loadCriteo, parseCriteo, parseCriteoLine } from '../src/data/criteo.js';
import { HashedIds, type FileColumn } from '../src/data/row-file.js';
import { synthCriteo } from '../src/data/synth-criteo.js';
import { binaryMetrics } from '../src/util/metrics.js';
import { dlrmSpec } from '../src/spec/dlrm.js';
import { tableStats } from '../src/train/train.js';
import { train } from '../src/train/train.js';
import { HostRng } from '../src/util/rng.js';

const CLI = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'main.js');
const ints = ['1', '', '-3', '40', '0', '7', '', '12', '3', '0', '1', '99', '5'];
const cats = Array.from({ length: 26 }, (_, i) => (i === 5 ? '' : (0x10000 * (i + 1) + 0xabc).toString(16).padStart(8, '0')));
const line = (label = '1', i = ints, c = cats): string => [label, ...i, ...c].join('\t');

function parseOne(text: string): { why: string | null; f32: Float32Array; u32: Uint32Array } {
  const buf = Buffer.from(text, 'latin1');
  const u32 = new Uint32Array(CRITEO_ROW_WORDS), f32 = new Float32Array(u32.buffer);
  return { why: parseCriteoLine(buf, 0, buf.length, f32, u32, 0), f32, u32 };
}

t.test('a well-formed line: label, log(1 + max(x, 0)), empty fields 0, hex hashes as 32-bit numbers; \\r\\n too', async (t) => {
  for (const text of [line(), line() + '\r']) {
    const { why, f32, u32 } = parseOne(text);
    t.equal(why, null);
    t.equal(f32[0], 1);
    t.same([...f32.subarray(1, 14)], ints.map((x) => Math.fround(x === '' || Number(x) < 0 ? 0 : Math.log1p(Number(x)))));
    t.same([...u32.subarray(14)], cats.map((c) => (c === '' ? 0 : parseInt(c, 16))));
  }
  t.equal(parseOne(line('0', ints, cats.map(() => 'FFFFFFFF'))).u32[39], 0xffffffff, 'upper-case hex, the largest 32-bit value');
});

t.test('every malformed case is named with its field and value', async (t) => {
  const cases: [string, RegExp][] = [
    [line().split('\t').slice(0, 39).join('\t'), /has 39 fields, expected 40/],
    [line() + '\tx', /has more than 40 fields/],
    ['', /is empty \(expected 40 tab-separated fields\)/],
    ['1', /has 1 field, expected 40/],
    [line('2'), /label "2" is not 0 or 1/],
    [line('1.0'), /label "1.0" is not 0 or 1/],
    [line('1', ints.map((x, i) => (i === 2 ? '1.5' : x))), /I3 "1.5" is not an integer/],
    [line('1', ints.map((x, i) => (i === 0 ? '-' : x))), /I1 "-" is not an integer/],
    [line('1', ints.map((x, i) => (i === 12 ? '1e3' : x))), /I13 "1e3" is not an integer/],
    [line('1', ints, cats.map((c, i) => (i === 25 ? 'xyz' : c))), /C26 "xyz" is not hexadecimal/],
    [line('1', ints, cats.map((c, i) => (i === 0 ? '123456789' : c))), /C1 "123456789" is not a 32-bit hexadecimal value/],
  ];
  for (const [text, want] of cases) t.match(parseOne(text).why, want, want.source);
});

t.test('a log with bad lines and a cut last line: counted, the first named; over --max-bad-lines stops; the cache is reused and never half-written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-criteo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cache = join(dir, 'cache');
  const good = Array.from({ length: 40 }, (_, i) => line(String(i % 2), ints.map((x, j) => (j === 0 ? String(i) : x))));
  const lines = [...good.slice(0, 10), line('7'), ...good.slice(10, 30), 'garbage', ...good.slice(30)];
  const path = join(dir, 'log.tsv');
  // Cut mid-line: the last line loses its tail (fewer fields).
  writeFileSync(path, lines.join('\n') + '\n' + good[0].slice(0, 30));
  await t.rejects(async () => parseCriteo(path, { cacheDir: cache, maxBadLines: 2 }), /line 11 label "7" is not 0 or 1; 3 malformed lines, more than --max-bad-lines 2/);
  t.same(existsSync(cache) ? readdirSync(cache) : [], [], 'a stopped parse leaves nothing in the cache');
  const { parse, rowsPath } = parseCriteo(path, { cacheDir: cache, maxBadLines: 3 });
  t.equal(parse.rows, 40);
  t.equal(parse.badLines, 3);
  t.same(parse.firstBad, { line: 11, reason: 'label "7" is not 0 or 1' });
  t.equal(parse.endsMidLine, true);
  t.equal(readFileSync(rowsPath).length, 40 * CRITEO_ROW_WORDS * 4, '160 bytes a row');
  const again = parseCriteo(path, { cacheDir: cache, maxBadLines: 3 });
  t.same(again.parse, parse, 'a second read reuses the cache');
  await t.rejects(async () => parseCriteo(path, { cacheDir: cache, maxBadLines: 0 }), /more than --max-bad-lines 0/, 'the limit also holds for a cached parse');
  // The held-out split is the last ⌈n/7⌉ rows by index; ids hash into the model's table size.
  const { train: tr, test } = loadCriteo(path, { cacheDir: cache, maxBadLines: 3 });
  t.teardown(() => { for (const d of [tr, test]) for (const c of d.inputs) (c.data as FileColumn).close(); });
  t.equal(test.count, 6);
  t.equal(tr.count, 34);
  const dense = tr.inputs[0].data as FileColumn;
  t.same([...dense.subarray(13 * 5, 13 * 6)].slice(0, 2), [Math.fround(Math.log1p(5)), 0], 'row 5: I1 = log(1 + 5), I2 empty');
  t.same([...(test.target.data as Float32Array)], [0, 1, 0, 1, 0, 1], 'test labels of rows 34..39, in memory');
  const c1 = new HashedIds(tr.inputs[1].data as FileColumn, 1000);
  t.equal(c1.subarray(3, 4)[0], (0x10000 + 0xabc) % 1000, 'C1 hashed into 1000 buckets');
  const c6 = new HashedIds(tr.inputs[6].data as FileColumn, 1000);
  t.equal(c6.subarray(0, 1)[0], 0, 'an empty categorical field is id 0');
});

t.test('AUC and log loss equal a direct computation (ties count one half)', async (t) => {
  const rng = new HostRng(5);
  const z = Float64Array.from({ length: 300 }, () => Math.round(4 * rng.normal()) / 2), y = Float64Array.from(z, (v) => (rng.uniform() < 1 / (1 + Math.exp(-v)) ? 1 : 0));
  let pairs = 0, wins = 0, ll = 0;
  for (let i = 0; i < z.length; i++) {
    const p = 1 / (1 + Math.exp(-z[i]));
    ll -= y[i] ? Math.log(p) : Math.log(1 - p);
    for (let j = 0; j < z.length; j++) if (y[i] === 1 && y[j] === 0) { pairs++; wins += z[i] > z[j] ? 1 : z[i] === z[j] ? 0.5 : 0; }
  }
  const m = binaryMetrics(z, y);
  t.ok(Math.abs(m.auc - wins / pairs) < 1e-12, `auc ${m.auc} = ${wins / pairs}`);
  t.ok(Math.abs(m.logLoss - ll / z.length) < 1e-12);
});

const SMALL = [1460, 583, 3000, 2000, 305, 24, 1251, 633, 3, 931, 568, 2500, 319, 27, 1499, 2200, 10, 565, 217, 4, 2800, 18, 15, 2861, 105, 1425];

t.test('synth-criteo: same seed, same bytes; the sidecar states the planted ranks; the log reads back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-synth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = synthCriteo({ rows: 3000, seed: 3, out: join(dir, 'a.tsv'), cardinalities: SMALL, plantedRank: 3 });
  synthCriteo({ rows: 3000, seed: 3, out: join(dir, 'b.tsv'), cardinalities: SMALL, plantedRank: 3 });
  synthCriteo({ rows: 3000, seed: 4, out: join(dir, 'c.tsv'), cardinalities: SMALL, plantedRank: 3 });
  t.ok(readFileSync(join(dir, 'a.tsv')).equals(readFileSync(join(dir, 'b.tsv'))), 'seed 3 twice: identical logs');
  t.notOk(readFileSync(join(dir, 'a.tsv')).equals(readFileSync(join(dir, 'c.tsv'))), 'seed 4: another log');
  t.same(JSON.parse(readFileSync(join(dir, 'a.tsv.json'), 'utf8')), a, 'the sidecar is what synthCriteo returned');
  t.same(a.planted.map((p) => p.input), ['C3', 'C4', 'C12', 'C16', 'C21']);
  t.ok(a.planted.every((p) => p.ranks.join() === '1,3,3,1' && p.vocabModes.reduce((x, y) => x * y, 1) >= p.cardinality), 'planted TT ranks [1,3,3,1] over modes covering each table');
  t.ok(a.clickRate > 0.2 && a.clickRate < 0.32, `click rate ${a.clickRate} near Criteo's 26 %`);
  t.ok(a.heldOut.auc > 0.75, `the planted model ranks its own clicks (AUC ${a.heldOut.auc.toFixed(3)})`);
  const { parse } = parseCriteo(join(dir, 'a.tsv'), { cacheDir: join(dir, 'cache') });
  t.equal(parse.rows, 3000);
  t.equal(parse.badLines, 0, 'every generated line is well-formed');
  const cli = spawnSync(process.execPath, [CLI, 'data', 'synth-criteo', '--rows', '50', '--out', join(dir, 'cli.tsv'), '--cardinalities', '1,2,3'], { encoding: 'utf8' });
  t.equal(cli.status, 2, 'a short --cardinalities list: exit 2');
  t.match(cli.stderr, /--cardinalities 1,2,3: need 26 comma-separated table sizes/);
});

t.test('a small DLRM (TTM tables) trains on a generated log to a stated AUC; summary has testAuc, testLogLoss, tableParams, tableCompression', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-dlrm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'log.tsv');
  const side = synthCriteo({ rows: 80000, seed: 1, out: log, cardinalities: SMALL, plantedRank: 3 });
  const spec = dlrmSpec({ cardinalities: SMALL, dim: 16, embModes: [2, 2, 4], maxRank: 6, bottom: [32], top: [32] });
  const s = await train({ spec, data: `criteo:${log}`, cacheDir: join(dir, 'cache'), epochs: 1, batch: 128, lr: 3e-3, outDir: join(dir, 'run'), log: null });
  t.ok(s.testAuc! > 0.7, `test AUC ${s.testAuc!.toFixed(4)} > 0.70 (planted model: ${side.heldOut.auc.toFixed(4)})`);
  t.ok(s.testAuc! <= side.heldOut.auc + 0.02, 'not above what the planted model can do');
  t.equal(s.testLogLoss, s.testLoss);
  t.ok(s.testAccuracy > 0.74, `accuracy ${s.testAccuracy} above the no-click predictor`);
  const tables = spec.layers.filter((l) => l.kind === 'embedding' && l.format === 'ttm');
  t.equal(tables.length, 5);
  t.equal(s.tableCompression, tables.reduce((n, l) => n + (l as { rows: number; dim: number }).rows * 16, 0) / s.tableParams!);
  t.ok(s.history.every((e) => typeof e.testAuc === 'number'), 'AUC per epoch');
  const cli = spawnSync(process.execPath, [CLI, 'train', '--data', `criteo:${log}`, '--out', join(dir, 'nospec'), '--cache-dir', join(dir, 'cache')], { encoding: 'utf8' });
  t.equal(cli.status, 2);
  t.match(cli.stderr, /hashed categories, whose table sizes are the model's to choose; give --spec/);
  const bad = spawnSync(process.execPath, [CLI, 'train', '--data', 'mnist', '--max-bad-lines', '5', '--out', join(dir, 'x')], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--max-bad-lines 5: applies to criteo:FILE logs only/);
});

t.test('the example DLRMs are dlrmSpec\'s output, with the paper\'s table counts (METHOD.md §5.1: TTM 1 130 048, TT 1 135 752)', async (t) => {
  const read = (f: string): unknown => JSON.parse(readFileSync(new URL(`../examples/${f}`, import.meta.url), 'utf8'));
  const ttm = dlrmSpec({ cardinalities: KAGGLE_CARDINALITIES });
  const tt = dlrmSpec({ cardinalities: KAGGLE_CARDINALITIES, format: 'tt' });
  t.same(read('dlrm-kaggle.json'), ttm, 'examples/dlrm-kaggle.json');
  t.same(read('dlrm-kaggle-tt.json'), tt, 'examples/dlrm-kaggle-tt.json');
  t.same(read('dlrm-kaggle-all.json'), dlrmSpec({ cardinalities: KAGGLE_CARDINALITIES, tensorized: 'all' }), 'examples/dlrm-kaggle-all.json');
  t.equal(tableStats(ttm)!.tableParams, 1_130_048);
  t.equal(tableStats(tt)!.tableParams, 1_135_752);
  t.equal(Math.round(tableStats(tt)!.tableParams * tableStats(tt)!.tableCompression), 4_248_739_968, 'against the five dense tables');
});
