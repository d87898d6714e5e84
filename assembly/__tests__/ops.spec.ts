// Elementwise / row-wise kernels on hand-worked cases. Lengths are chosen so the SIMD build runs
// both its v128 loop and its scalar tail (e.g. 7 = 4 + 3, 5 columns = 4 + 1).
import { biasAddF32, biasGradF32, reluF32, reluBackwardF32, softmaxXentF32, adamF32 } from '../ops';
import { zerosF32, f32s, u8s, getF32, getI32, bitsF32, expectF32s } from './helpers';

describe('biasAddF32 / biasGradF32', () => {
  it('adds the bias to every row', () => {
    const y = f32s([1, 2, 3, 4, 5, 10, 20, 30, 40, 50]);
    const bias = f32s([0.5, -1, 2, 0, 100]);
    biasAddF32(y, bias, 2, 5);
    expectF32s(y, [1.5, 1, 5, 4, 105, 10.5, 19, 32, 40, 150], 'y');
  });

  it('sums dy over rows and overwrites stale dbias', () => {
    const dy = f32s([1, 2, 3, 4, 5, 10, 20, 30, 40, 50, -1, -2, -3, -4, -5]);
    const db = f32s([7, 7, 7, 7, 7]);
    biasGradF32(db, dy, 3, 5);
    expectF32s(db, [10, 20, 30, 40, 50], 'dbias');
  });
});

describe('reluF32 / reluBackwardF32', () => {
  it('clamps negatives, -0 and NaN to +0', () => {
    const y = f32s([-2, NaN, 0.5, -0.0, 3, NaN, -7]);
    reluF32(y, 7);
    expectF32s(y, [0, 0, 0.5, 0, 3, 0, 0], 'y');
    // Both builds must give +0 (bits 0), not -0, for -0 and NaN inputs.
    expect<u32>(bitsF32(y, 1)).toBe(0, 'NaN in the v128 part');
    expect<u32>(bitsF32(y, 3)).toBe(0, '-0');
    expect<u32>(bitsF32(y, 5)).toBe(0, 'NaN in the scalar tail');
  });

  it('leaves values beyond n untouched', () => {
    const y = f32s([-1, -1, -1, -1, -1, -1]);
    reluF32(y, 5);
    expectF32s(y, [0, 0, 0, 0, 0, -1], 'y');
  });

  it('masks dy where the ReLU output is not positive', () => {
    const dy = f32s([1, 2, 3, 4, 5, 6, 7]);
    const y = f32s([0, 1, 0, 2, -1, 3, 0]);
    reluBackwardF32(dy, y, 7);
    expectF32s(dy, [0, 2, 0, 4, 0, 6, 0], 'dy');
  });
});

// Logits [[1,2,3],[0,0,0]], labels [2,1]:
//   row 0: loss = ln(e¹+e²+e³) − 3 = 0.40760596444…, softmax = [0.0900306, 0.2447285, 0.6652410]
//   row 1: loss = ln 3 = 1.09861228867…, softmax = [⅓, ⅓, ⅓]
// summed loss 1.50621825311…; dlogits = (softmax − onehot) / 2.
describe('softmaxXentF32', () => {
  it('loss, gradient and hit count on known logits', () => {
    const logits = f32s([1, 2, 3, 0, 0, 0]);
    const labels = u8s([2, 1]);
    const dl = zerosF32(6), correct = zerosF32(1);
    const loss = softmaxXentF32(dl, logits, labels, 2, 3, correct, 0.5);
    expect<f64>(loss).toBeCloseTo(1.50621825311249, 6);
    expect<f32>(getF32(dl, 0)).toBeCloseTo(0.04501528658519023, 6);
    expect<f32>(getF32(dl, 1)).toBeCloseTo(0.12236423552739883, 6);
    expect<f32>(getF32(dl, 2)).toBeCloseTo(-0.16737952211258905, 6);
    expect<f32>(getF32(dl, 3)).toBeCloseTo(1.0 / 6, 6);
    expect<f32>(getF32(dl, 4)).toBeCloseTo(-1.0 / 3, 6);
    expect<f32>(getF32(dl, 5)).toBeCloseTo(1.0 / 6, 6);
    // row 0's arg-max (2) is its label; row 1's (0, first of a tie) is not.
    expect<i32>(getI32(correct, 0)).toBe(1);
    // logits are untouched when dlogits is a different buffer
    expectF32s(logits, [1, 2, 3, 0, 0, 0], 'logits');
  });

  it('gradient rows sum to zero', () => {
    const rows = 3, cols = 7;
    const logits = f32s([0.3, -1.2, 2.5, 0.0, 4.1, -3.3, 1.0,
                         10, 10, 10, 10, 10, 10, 10,
                         -5, 2, 0.25, 0.5, -0.75, 3, 1]);
    const labels = u8s([4, 6, 0]);
    const dl = zerosF32(rows * cols), correct = zerosF32(1);
    softmaxXentF32(dl, logits, labels, rows, cols, correct, 1.0 / <f32>rows);
    for (let r = 0; r < rows; r++) {
      let s: f64 = 0;
      for (let j = 0; j < cols; j++) s += <f64>getF32(dl, r * cols + j);
      expect<f64>(s).toBeCloseTo(0, 6);
    }
    expect<i32>(getI32(correct, 0)).toBe(1);
  });

  it('is shift-invariant (large logits stay finite) and may work in place', () => {
    const x = f32s([1001, 1002, 1003]);
    const labels = u8s([2]);
    const correct = zerosF32(1);
    const loss = softmaxXentF32(x, x, labels, 1, 3, correct, 1);
    expect<f64>(loss).toBeCloseTo(0.40760596444438013, 4);
    expect<f32>(getF32(x, 0)).toBeCloseTo(0.09003057317038046, 5);
    expect<f32>(getF32(x, 2)).toBeCloseTo(0.6652409557748219 - 1, 5);
    expect<i32>(getI32(correct, 0)).toBe(1);
  });
});

/** Reference Adam step in f64 (PyTorch form: eps added to sqrt(v̂)). */
function adamRef(p: f64, g: f64, m: f64, v: f64, lr: f64, b1: f64, b2: f64, eps: f64, t: i32): f64[] {
  const m1 = b1 * m + (1 - b1) * g;
  const v1 = b2 * v + (1 - b2) * g * g;
  const mhat = m1 / (1 - Math.pow(b1, t));
  const vhat = v1 / (1 - Math.pow(b2, t));
  return [p - lr * mhat / (Math.sqrt(vhat) + eps), m1, v1];
}

describe('adamF32', () => {
  it('two steps match the formula (n = 5: v128 part + tail)', () => {
    const n = 5;
    const lr: f32 = 0.001, b1: f32 = 0.9, b2: f32 = 0.999, eps: f32 = 1e-8;
    const p = f32s([1, -2, 0.5, 3, -0.25]);
    const g1 = f32s([0.1, -0.2, 0.3, -0.4, 0.5]);
    const g2 = f32s([-0.05, -0.1, 0.2, 0.0, 1.5]);
    const m = zerosF32(n), v = zerosF32(n);
    const rp = new Array<f64>(n), rm = new Array<f64>(n), rv = new Array<f64>(n);
    for (let i = 0; i < n; i++) { rp[i] = getF32(p, i); rm[i] = 0; rv[i] = 0; }
    for (let t = 1; t <= 2; t++) {
      const g = t == 1 ? g1 : g2;
      adamF32(p, g, m, v, n, lr, b1, b2, eps, t);
      for (let i = 0; i < n; i++) {
        const r = adamRef(rp[i], getF32(g, i), rm[i], rv[i], lr, b1, b2, eps, t);
        rp[i] = r[0]; rm[i] = r[1]; rv[i] = r[2];
        expect<f64>(getF32(p, i)).toBeCloseTo(rp[i], 6);
        expect<f64>(getF32(m, i)).toBeCloseTo(rm[i], 6);
        expect<f64>(getF32(v, i)).toBeCloseTo(rv[i], 6);
      }
    }
    // The first step moves every parameter by ≈ lr against the gradient's sign.
    expect<f32>(getF32(p, 4)).toBeLessThan(-0.25 - 0.0015);
  });

  it('first step is -lr·sign(g)', () => {
    const p = f32s([0, 0, 0, 0, 0, 0]);
    const g = f32s([3, -3, 1e-3, -1e-3, 100, -100]);
    const m = zerosF32(6), v = zerosF32(6);
    adamF32(p, g, m, v, 6, 0.01, 0.9, 0.999, 1e-8, 1);
    for (let i = 0; i < 6; i++) {
      expect<f32>(getF32(p, i)).toBeCloseTo(i % 2 == 0 ? -0.01 : 0.01, 6);
    }
  });
});
