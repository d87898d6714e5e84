// Automatic mode factorisations (src/spec/auto-modes.ts) for `--hidden`: every width of a wide
// range folds into modes that multiply back and keep the per-format rules, the networks validate
// and prepare; widths without modes fail naming the reason and a width that works.
//
// What a square layer w → w folds to (inModes | outModes):
//   width  cp / tucker / tt / tr   ttm
//   784    28·28 | 28·28           7·7·4·4 | 4·4·7·7
//   512    32·16 | 16·32           8·4·4·4 | 4·4·4·8
//   256    16·16 | 16·16           4·4·4·4 | 4·4·4·4
//   128    16·8  | 8·16            4·4·4·2 | 2·4·4·4
//   10     5·2   | 2·5             5·2     | 2·5
// and the MNIST chain 784-512-10: flat [28,28 | 16,32], [32,16 | 2,5];
// TTM [7,7,4,4 | 4,4,4,8], [32,16 | 2,5] (10 splits only in two, so fc2 is a 2-core TTM).
import t, { type Test } from 'tap';
import { autoModes, factorize, hiddenSpec, MAX_MODE_RATIO, primeFactors } from '../src/spec/auto-modes.js';
import { validateSpec } from '../src/spec/validate.js';
import { prepare } from '../src/prepare/prepare.js';
import { SpecError, type LayerFormat, type LinearSpec } from '../src/spec/types.js';
import { defaultMaxRank, formatRanks } from '../src/spec/formats.js';

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
const FORMATS: LayerFormat[] = ['dense', 'cp', 'tucker', 'tt', 'ttm', 'tr'];
const TENSOR: LayerFormat[] = FORMATS.filter((f) => f !== 'dense');
const POW2 = Array.from({ length: 12 }, (_, i) => 2 ** (i + 1)); // 2 … 4096
const WIDTHS = [...POW2, 10, 12, 100, 256, 500, 512, 784, 1000, 1024, 3072];
const BAD = [7, 13, 509, 1021, 1018];

t.test('factorize: balanced, multiplies back, largest first, null without enough prime factors', async (t) => {
  t.same(factorize(784, 2), [28, 28]);
  t.same(factorize(784, 3), [14, 8, 7]);
  t.same(factorize(784, 4), [7, 7, 4, 4]);
  t.same(factorize(512, 3), [8, 8, 8]);
  t.same(factorize(10, 2), [5, 2]);
  t.same(factorize(10, 1), [10]);
  t.same(factorize(3072, 3), [16, 16, 12]);
  t.equal(factorize(10, 3), null, '10 = 2·5 has two prime factors');
  t.equal(factorize(509, 2), null, 'a prime has one');
  t.equal(factorize(1, 1), null);
  t.equal(factorize(12, 0), null);
  for (const n of [...WIDTHS, 1018, 360, 9973 * 2]) {
    for (let d = 1; d <= 5; d++) {
      const f = factorize(n, d);
      if (primeFactors(n).length < d) { t.equal(f, null, `${n} into ${d}`); continue; }
      t.ok(f !== null && f.length === d && prod(f) === n && f.every((x) => x >= 2), `${n} into ${d}: ${f?.join('·')}`);
      t.same([...f!].sort((a, b) => b - a), f, 'largest first');
      t.same(factorize(n, d), f, 'deterministic');
    }
  }
});

/** Checks the rules of one side (2 and 3 cannot split: one mode, for TTM padded with 1s). */
function checkSide(t: Test, n: number, modes: number[], format: LayerFormat, what: string): void {
  t.equal(prod(modes), n, `${what} multiplies back to ${n}`);
  const real = modes.filter((m) => m !== 1);
  if (n === 2 || n === 3) { t.same(real, [n], `${what}: ${n} is one mode`); return; }
  t.ok(modes.every((m) => m >= 2), `${what}: every mode >= 2 (${modes.join('·')})`);
  t.ok(Math.max(...modes) / Math.min(...modes) <= MAX_MODE_RATIO, `${what}: modes at most ${MAX_MODE_RATIO}x apart`);
  if (format !== 'ttm') t.ok(modes.length >= 2 && modes.length <= 3, `${what}: 2..3 modes`);
}

t.test('autoModes: every width and format keeps the rules', async (t) => {
  for (const format of TENSOR) {
    for (const w of WIDTHS) {
      for (const [nIn, nOut] of [[784, w], [w, 10], [w, w]]) {
        const m = autoModes(nIn, nOut, format);
        if ('error' in m) { t.fail(`${format} ${nIn}→${nOut}: ${m.error}`); continue; }
        const what = `${format} ${nIn}→${nOut}`;
        checkSide(t, nIn, m.inModes, format, `${what} in`);
        checkSide(t, nOut, m.outModes, format, `${what} out`);
        t.same([...m.inModes].sort((a, b) => b - a), m.inModes, `${what}: inModes largest first`);
        t.same([...m.outModes].sort((a, b) => a - b), m.outModes, `${what}: outModes largest last`);
        if (format === 'ttm') {
          t.equal(m.inModes.length, m.outModes.length, `${what}: as many output as input modes`);
          t.ok(m.inModes.length >= 2 && m.inModes.length <= 4, `${what}: 2..4 cores`);
        }
        t.same(autoModes(nIn, nOut, format), m, 'deterministic');
      }
    }
  }
  t.same(autoModes(784, 10, 'dense'), { inModes: [], outModes: [] }, 'dense has no modes');
});

t.test('autoModes: the table of the header', async (t) => {
  const flat = { 784: [[28, 28], [28, 28]], 512: [[32, 16], [16, 32]], 256: [[16, 16], [16, 16]], 128: [[16, 8], [8, 16]], 10: [[5, 2], [2, 5]] };
  const ttm = { 784: [[7, 7, 4, 4], [4, 4, 7, 7]], 512: [[8, 4, 4, 4], [4, 4, 4, 8]], 256: [[4, 4, 4, 4], [4, 4, 4, 4]], 128: [[4, 4, 4, 2], [2, 4, 4, 4]], 10: [[5, 2], [2, 5]] };
  for (const format of TENSOR) {
    for (const [w, [a, b]] of Object.entries(format === 'ttm' ? ttm : flat)) {
      t.same(autoModes(Number(w), Number(w), format), { inModes: a, outModes: b }, `${format} ${w}`);
    }
  }
  t.same(autoModes(784, 512, 'tt'), { inModes: [28, 28], outModes: [16, 32] }, 'the hand-folded defaults.ts fc1');
  t.same(autoModes(512, 10, 'ttm'), { inModes: [32, 16], outModes: [2, 5] }, 'the hand-folded defaults.ts TTM fc2');
  t.same(autoModes(784, 512, 'ttm'), { inModes: [7, 7, 4, 4], outModes: [4, 4, 4, 8] });
});

/** The width a message suggests ("use 512 (= …)"). */
const suggested = (msg: string): number => Number(/use (\d+) \(=/.exec(msg)?.[1] ?? NaN);

t.test('autoModes: primes and 2·prime fail with the reason and a width that factors', async (t) => {
  for (const format of TENSOR) {
    for (const n of BAD) {
      for (const [nIn, nOut] of [[n, 10], [784, n]]) {
        const m = autoModes(nIn, nOut, format);
        if (!('error' in m)) { t.fail(`${format} ${nIn}→${nOut} should fail`); continue; }
        t.match(m.error, primeFactors(n).length === 1 ? `${n} is prime: no ${format.toUpperCase()} modes` : `${n} = ${primeFactors(n).join('·')}`, m.error);
        const s = suggested(m.error);
        t.ok(s > n, `suggests a larger width (${s})`);
        const again = nIn === n ? autoModes(s, nOut, format) : autoModes(nIn, s, format);
        t.notOk('error' in again, `${s} factors for ${format}`);
      }
    }
  }
  t.same(autoModes(509, 10, 'tt'), { error: '509 is prime: no TT modes; use 512 (= 32·16)' });
  t.match((autoModes(1018, 10, 'cp') as { error: string }).error, /1018 = 2·509: .* 255x apart .*; use 1024 \(= 32·32\)/);
});

t.test('hiddenSpec: every width and format validates and prepares', async (t) => {
  for (const format of FORMATS) {
    for (const w of WIDTHS) {
      const spec = hiddenSpec({ inputWidth: 784, classes: 10, hidden: [w], format });
      t.same(validateSpec(structuredClone(spec)), spec, `${format} [${w}] validates`);
      t.doesNotThrow(() => prepare(spec, { batch: 8, mode: 'train' }), `${format} 784-${w}-10 prepares`);
    }
    const deep = hiddenSpec({ inputWidth: 784, classes: 10, hidden: [512, 256], format, activation: 'tanh', maxRank: 8 });
    t.same(deep.layers.map((l) => l.kind === 'activation' ? `${l.name}:${l.fn}` : l.name), ['fc1', 'fc1_tanh:tanh', 'fc2', 'fc2_tanh:tanh', 'fc3']);
    t.doesNotThrow(() => prepare(deep, { batch: 8, mode: 'train' }), `${format} 784-512-256-10 prepares`);
    if (format !== 'dense') t.ok((deep.layers[0] as LinearSpec).ranks!.every((r) => r <= 8), 'maxRank caps the ranks');
  }
});

t.test('hiddenSpec: the shape of the network', async (t) => {
  const one = hiddenSpec({ inputWidth: 784, classes: 10, hidden: [], format: 'tt' });
  t.same(one, {
    version: 2,
    inputs: [{ name: 'x', dtype: 'f32', shape: [784] }],
    layers: [{ kind: 'linear', name: 'fc1', format: 'tt', inFeatures: 784, outFeatures: 10, inModes: [28, 28], outModes: [2, 5], ranks: formatRanks('tt', [28, 28], [2, 5], defaultMaxRank('tt')) }],
    loss: { kind: 'softmax-xent' },
  }, 'hidden [] is the one-layer model');
  const dense = hiddenSpec({ inputWidth: 784, classes: 10, hidden: [509], format: 'dense' });
  t.same(dense.layers.map((l) => [l.name, (l as LinearSpec).inModes]), [['fc1', undefined], ['fc1_relu', undefined], ['fc2', undefined]], 'dense: any width, no modes');
  const o = { inputWidth: 784, classes: 10, hidden: [512, 256], format: 'ttm' as const };
  t.same(hiddenSpec(o), hiddenSpec(o), 'deterministic');
  t.equal(JSON.stringify(hiddenSpec(o)), JSON.stringify(hiddenSpec({ ...o, hidden: [...o.hidden] })));
});

t.test('hiddenSpec: impossible widths throw a SpecError naming --hidden and the width', async (t) => {
  for (const format of TENSOR) {
    t.throws(() => hiddenSpec({ inputWidth: 784, classes: 10, hidden: [512, 509], format }), SpecError);
    t.throws(() => hiddenSpec({ inputWidth: 784, classes: 10, hidden: [512, 509], format }),
      { message: /^--hidden 512,509: fc2 \(hidden width 512 → hidden width 509\): 509 is prime: no \w+ modes; use 512 \(= [\d·]+\)$/ });
    t.throws(() => hiddenSpec({ inputWidth: 784, classes: 10, hidden: [1018], format }),
      { message: /^--hidden 1018: fc1 \(the input width 784 → hidden width 1018\): 1018 = 2·509: .*use 1024/ });
    t.throws(() => hiddenSpec({ inputWidth: 13, classes: 10, hidden: [], format }), { message: /^--hidden \(none\): fc1 \(the input width 13 → the 10 classes\): 13 is prime/ });
  }
  t.throws(() => hiddenSpec({ inputWidth: 784, classes: 10, hidden: [0], format: 'tt' }), /--hidden 0: 0 is not a width/);
  t.throws(() => hiddenSpec({ inputWidth: 784, classes: 10, hidden: [2.5], format: 'dense' }), SpecError);
});
