// Dense and TT-matrix layers on small integer cases: every product and sum is exact in f32, so
// results are compared exactly.
import { denseForwardF32, denseBackwardF32 } from '../dense';
import { ttmForwardF32, ttmBackwardF32 } from '../ttm';
import { zerosF32, f32s, i32s, getF32, setF32, expectF32s } from './helpers';

describe('denseForwardF32 / denseBackwardF32', () => {
  // x [2×3] = [[1,2,3],[4,5,6]], W [3×2] = [[7,8],[9,10],[11,12]], bias = [0.5, -1]
  it('y = x·W + bias', () => {
    const x = f32s([1, 2, 3, 4, 5, 6]), w = f32s([7, 8, 9, 10, 11, 12]), bias = f32s([0.5, -1]);
    const y = zerosF32(4);
    denseForwardF32(y, x, w, bias, 2, 3, 2);
    expectF32s(y, [58.5, 63, 139.5, 153], 'y');
    denseForwardF32(y, x, w, 0, 2, 3, 2);
    expectF32s(y, [58, 64, 139, 154], 'y (no bias)');
  });

  it('dW = xᵀ·dy, dbias = Σ dy, dx = dy·Wᵀ', () => {
    const x = f32s([1, 2, 3, 4, 5, 6]), w = f32s([7, 8, 9, 10, 11, 12]);
    const dy = f32s([1, 0, 0, 1]);
    const dx = zerosF32(6), dw = zerosF32(6), db = zerosF32(2), ws = zerosF32(6);
    denseBackwardF32(dx, dw, db, dy, x, w, ws, 2, 3, 2);
    expectF32s(dw, [1, 4, 2, 5, 3, 6], 'dW');
    expectF32s(db, [1, 1], 'dbias');
    expectF32s(dx, [7, 9, 11, 8, 10, 12], 'dx');
  });
});

// Rank-1 TT-matrix with d = 2 is a Kronecker product: W = G0 ⊗ G1 with
// G0 = [[1,2],[3,4]] (i0 × j0), G1 = [[0,1],[-1,2]] (i1 × j1):
//   W = [[0,1,0,2],[-1,2,-2,4],[0,3,0,4],[-3,6,-4,8]]
describe('ttmForwardF32 / ttmBackwardF32', () => {
  it('rank-1 Kronecker case, worked by hand', () => {
    const desc = i32s([2, 2, 2, 2, 2, 1, 1, 1]);
    const g = f32s([1, 2, 3, 4, 0, 1, -1, 2]);
    const x = f32s([1, 0, 0, 0, 0, 1, 1, 0, 1, 2, 3, 4]);
    const y = zerosF32(12), states = zerosF32(256), ws = zerosF32(256);
    ttmForwardF32(y, x, g, desc, states, 3);
    expectF32s(y, [0, 1, 0, 2, -1, 5, -2, 8, -14, 38, -20, 54], 'y');

    const dy = f32s([1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    const dx = zerosF32(12), dg = f32s([9, 9, 9, 9, 9, 9, 9, 9]);
    ttmBackwardF32(dx, dg, dy, g, desc, states, ws, 3);
    // dx = dy·Wᵀ: columns 0 and 3 of W, then the row sums of W.
    expectF32s(dx, [0, -1, 0, -3, 2, 4, 4, 8, 3, 3, 7, 7], 'dx');
    // dW = xᵀ·dy; dG0[i0,j0] = Σ dW[(i0,i1),(j0,j1)]·G1[i1,j1], dG1 likewise with G0.
    expectF32s(dg, [3, 5, 7, 8, 25, 28, 34, 36], 'dG');
  });

  it('rank-2, uneven modes: equals the reconstructed W exactly', () => {
    // a = [2,3], b = [3,2], ranks [1,2,1]; G0 [1×2×3×2], G1 [2×3×2×1].
    const a0 = 2, a1 = 3, b0 = 3, b1 = 2, r = 2, batch = 3, nIn = 6, nOut = 6;
    const desc = i32s([2, a0, a1, b0, b1, 1, r, 1]);
    const n0 = a0 * b0 * r, n1 = r * a1 * b1;
    const g = zerosF32(n0 + n1);
    for (let e = 0; e < n0 + n1; e++) { const v: i32 = (e * 5 + 3) % 7 - 3; setF32(g, e, <f32>v); }
    const x = zerosF32(batch * nIn), dy = zerosF32(batch * nOut);
    for (let e = 0; e < batch * nIn; e++) { const v: i32 = (e * 3 + 1) % 5 - 2; setF32(x, e, <f32>v); }
    for (let e = 0; e < batch * nOut; e++) { const v: i32 = (e * 7 + 2) % 5 - 2; setF32(dy, e, <f32>v); }
    // W[(i0,i1),(j0,j1)] = Σ_p G0[i0,j0,p]·G1[p,i1,j1]
    const w = zerosF32(nIn * nOut);
    for (let i0 = 0; i0 < a0; i0++) for (let i1 = 0; i1 < a1; i1++)
    for (let j0 = 0; j0 < b0; j0++) for (let j1 = 0; j1 < b1; j1++) {
      let s: f32 = 0;
      for (let p = 0; p < r; p++) s += getF32(g, (i0 * b0 + j0) * r + p) * getF32(g, n0 + (p * a1 + i1) * b1 + j1);
      setF32(w, (i0 * a1 + i1) * nOut + j0 * b1 + j1, s);
    }
    const y = zerosF32(batch * nOut), states = zerosF32(1024), ws = zerosF32(1024);
    ttmForwardF32(y, x, g, desc, states, batch);
    let bad = 0;
    for (let bi = 0; bi < batch; bi++) for (let c = 0; c < nOut; c++) {
      let s: f32 = 0;
      for (let q = 0; q < nIn; q++) s += getF32(x, bi * nIn + q) * getF32(w, q * nOut + c);
      if (getF32(y, bi * nOut + c) != s) bad++;
    }
    expect<i32>(bad).toBe(0, 'y ≠ x·W');

    const dx = zerosF32(batch * nIn), dg = zerosF32(n0 + n1);
    ttmBackwardF32(dx, dg, dy, g, desc, states, ws, batch);
    bad = 0;
    for (let bi = 0; bi < batch; bi++) for (let q = 0; q < nIn; q++) {
      let s: f32 = 0;
      for (let c = 0; c < nOut; c++) s += getF32(dy, bi * nOut + c) * getF32(w, q * nOut + c);
      if (getF32(dx, bi * nIn + q) != s) bad++;
    }
    expect<i32>(bad).toBe(0, 'dx ≠ dy·Wᵀ');
    // dW = xᵀ·dy, then the chain rule through W's definition.
    const dw = zerosF32(nIn * nOut);
    for (let q = 0; q < nIn; q++) for (let c = 0; c < nOut; c++) {
      let s: f32 = 0;
      for (let bi = 0; bi < batch; bi++) s += getF32(x, bi * nIn + q) * getF32(dy, bi * nOut + c);
      setF32(dw, q * nOut + c, s);
    }
    bad = 0;
    for (let i0 = 0; i0 < a0; i0++) for (let j0 = 0; j0 < b0; j0++) for (let p = 0; p < r; p++) {
      let s: f32 = 0;
      for (let i1 = 0; i1 < a1; i1++) for (let j1 = 0; j1 < b1; j1++) {
        s += getF32(dw, (i0 * a1 + i1) * nOut + j0 * b1 + j1) * getF32(g, n0 + (p * a1 + i1) * b1 + j1);
      }
      if (getF32(dg, (i0 * b0 + j0) * r + p) != s) bad++;
    }
    expect<i32>(bad).toBe(0, 'dG0');
    bad = 0;
    for (let p = 0; p < r; p++) for (let i1 = 0; i1 < a1; i1++) for (let j1 = 0; j1 < b1; j1++) {
      let s: f32 = 0;
      for (let i0 = 0; i0 < a0; i0++) for (let j0 = 0; j0 < b0; j0++) {
        s += getF32(dw, (i0 * a1 + i1) * nOut + j0 * b1 + j1) * getF32(g, (i0 * b0 + j0) * r + p);
      }
      if (getF32(dg, n0 + (p * a1 + i1) * b1 + j1) != s) bad++;
    }
    expect<i32>(bad).toBe(0, 'dG1');
  });
});
