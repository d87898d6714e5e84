// brgemmF32 and transposeF32 on hand-worked integer cases (exact in f32), in both builds:
// as-pect runs this file once with SIMD enabled and once without (test/assembly/).
import { brgemmF32, transposeF32 } from '../gemm';
import { zerosF32, f32s, getF32, setF32, expectF32s } from './helpers';

// A = [[1,2,3],[4,5,6]] (2×3), B = [[7,8],[9,10],[11,12]] (3×2): A·B = [[58,64],[139,154]].
const A_NN: f32[] = [1, 2, 3, 4, 5, 6];
const A_TN: f32[] = [1, 4, 2, 5, 3, 6]; // the same A stored transposed: Aᵀ [3×2]
const B: f32[] = [7, 8, 9, 10, 11, 12];

describe('brgemmF32', () => {
  it('NN: 2×3 · 3×2', () => {
    const a = f32s(A_NN), b = f32s(B), c = f32s([-1, -1, -1, -1]);
    brgemmF32(c, 2, a, 3, 1, 0, b, 2, 0, 2, 2, 3, 1, false);
    expectF32s(c, [58, 64, 139, 154], 'C');
  });

  it('TN via strides (sai = 1, sak = lda)', () => {
    const a = f32s(A_TN), b = f32s(B), c = zerosF32(4);
    brgemmF32(c, 2, a, 1, 2, 0, b, 2, 0, 2, 2, 3, 1, false);
    expectF32s(c, [58, 64, 139, 154], 'C');
  });

  it('ldc > n leaves the padding column alone', () => {
    const a = f32s(A_NN), b = f32s(B), c = f32s([0, 0, 99, 0, 0, 99]);
    brgemmF32(c, 3, a, 3, 1, 0, b, 2, 0, 2, 2, 3, 1, false);
    expectF32s(c, [58, 64, 99, 139, 154, 99], 'C');
  });

  it('batch-reduce (batch = 2) with accumulate = true', () => {
    // A_1 = [[1,0,0],[0,1,0]], B_1 = [[1,1],[2,2],[3,3]]: A_1·B_1 = [[1,1],[2,2]].
    const a = f32s([1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]);
    const b = f32s([7, 8, 9, 10, 11, 12, 1, 1, 2, 2, 3, 3]);
    const c = f32s([100, 200, 300, 400]);
    brgemmF32(c, 2, a, 3, 1, 6, b, 2, 6, 2, 2, 3, 2, true);
    // [[100,200],[300,400]] + [[58,64],[139,154]] + [[1,1],[2,2]]
    expectF32s(c, [159, 265, 441, 556], 'C');
  });

  it('batch-reduce without accumulate ignores the old C', () => {
    const a = f32s([1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]);
    const b = f32s([7, 8, 9, 10, 11, 12, 1, 1, 2, 2, 3, 3]);
    const c = f32s([100, 200, 300, 400]);
    brgemmF32(c, 2, a, 3, 1, 6, b, 2, 6, 2, 2, 3, 2, false);
    expectF32s(c, [59, 65, 141, 156], 'C');
  });

  it('k = 0 gives 0, or the old C when accumulating', () => {
    const a = zerosF32(1), b = zerosF32(1), c = f32s([5, 6]);
    brgemmF32(c, 2, a, 0, 1, 0, b, 2, 0, 1, 2, 0, 1, true);
    expectF32s(c, [5, 6], 'C (accumulate)');
    brgemmF32(c, 2, a, 0, 1, 0, b, 2, 0, 1, 2, 0, 1, false);
    expectF32s(c, [0, 0], 'C');
  });

  // m = 5, n = 13 walks every code path of the SIMD build: 4×8 and 1×8 tiles, 4×4 and 1×4
  // tiles, then one scalar column. Integers keep every partial sum exact, so the result must
  // equal the reference bit for bit in both builds.
  it('every tile shape, TN + batch 3 + accumulate, against an exact reference', () => {
    const m = 5, n = 13, k = 3, t = 3, ldc = 15;
    const a = zerosF32(t * k * m), b = zerosF32(t * k * n), c = zerosF32(m * ldc), ref = zerosF32(m * ldc);
    for (let tt = 0; tt < t; tt++) for (let kk = 0; kk < k; kk++) {
      for (let i = 0; i < m; i++) { const v: i32 = (i + 2 * kk + tt) % 5 - 2; setF32(a, tt * k * m + kk * m + i, <f32>v); }
      for (let j = 0; j < n; j++) { const v: i32 = (3 * j + kk + 7 - tt) % 7 - 3; setF32(b, tt * k * n + kk * n + j, <f32>v); }
    }
    for (let i = 0; i < m * ldc; i++) { const v: i32 = i % 11; setF32(c, i, <f32>v); setF32(ref, i, <f32>v); }
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s: f32 = getF32(ref, i * ldc + j);
      for (let tt = 0; tt < t; tt++) for (let kk = 0; kk < k; kk++) {
        s += getF32(a, tt * k * m + kk * m + i) * getF32(b, tt * k * n + kk * n + j);
      }
      setF32(ref, i * ldc + j, s);
    }
    brgemmF32(c, ldc, a, 1, m, k * m, b, n, k * n, m, n, k, t, true);
    for (let i = 0; i < m * ldc; i++) expect<f32>(getF32(c, i)).toBe(getF32(ref, i), 'C[' + i.toString() + ']');
  });
});

describe('transposeF32', () => {
  it('2×3 source with lds = 4', () => {
    const src = f32s([1, 2, 3, -9, 4, 5, 6, -9]);
    const dst = zerosF32(6);
    transposeF32(dst, src, 2, 3, 4);
    expectF32s(dst, [1, 4, 2, 5, 3, 6], 'dst');
  });

  it('17×18 source with lds = 20 crosses the 16×16 blocks', () => {
    const rows = 17, cols = 18, lds = 20;
    const src = zerosF32(rows * lds), dst = zerosF32(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < lds; j++) setF32(src, i * lds + j, j < cols ? <f32>(<i32>(i * 100 + j)) : -1);
    transposeF32(dst, src, rows, cols, lds);
    let bad = 0;
    for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) {
      if (getF32(dst, j * rows + i) != <f32>(<i32>(i * 100 + j))) bad++;
    }
    expect<i32>(bad).toBe(0, 'mismatched elements');
  });
});
