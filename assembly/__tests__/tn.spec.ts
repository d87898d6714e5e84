// The tensor-network program interpreter on small integer cases (every product and sum exact in
// f32, so results compare exactly): each op, op lengths, batched GEMM strides, the flop counter.
import {
  tnRun, tnFlops, tnResetFlops, TN_GEMM, TN_PERMUTE, TN_ZERO, TN_GATHER, TN_SCATTER, TN_ADD, TN_BIAS, TN_BIAS_GRAD,
  TN_ACT, TN_ACT_GRAD, TN_COPY2D, TN_INTERACT, TN_INTERACT_GRAD, TN_LOSS, ACT_RELU, LOSS_MSE,
} from '../tn';
import { zerosF32, f32s, i32s, expectF32s, getI32 } from './helpers';

describe('tnRun', () => {
  it('PERMUTE [2×3×4] → [4×2×3] and a contiguous-inner permute', () => {
    const src = zerosF32(24);
    for (let i = 0; i < 24; i++) store<f32>(src + (<usize>i << 2), <f32>i);
    const dst = zerosF32(24);
    // dst[k][i][j] = src[i][j][k]: dims [4,2,3], source strides [1, 12, 4]
    const prog = i32s([TN_PERMUTE, 5 + 9, <i32>dst, <i32>src, 3, 4, 2, 3, 1, 12, 4, 0, 0, 0]);
    tnRun(prog, 14);
    const want: f32[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) want.push(<f32>(i * 12 + j * 4 + k));
    expectF32s(dst, want, 'permuted');
    // [2][12] → [12]... swap of the outer axes only: dims [3,2,4], strides [4,12,1] (inner copy)
    const dst2 = zerosF32(24);
    tnRun(i32s([TN_PERMUTE, 14, <i32>dst2, <i32>src, 3, 3, 2, 4, 4, 12, 1, 0, 0, 0]), 14);
    const want2: f32[] = [];
    for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) want2.push(<f32>(i * 12 + j * 4 + k));
    expectF32s(dst2, want2, 'outer swap');
  });

  it('GEMM with an outer batch h = 2, then ZERO and ADD; the flop counter counts 2·m·n·k·t·h', () => {
    // C_h [2×2] = A_h [2×3] · B_h [3×2], h = 0, 1
    const a = f32s([1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]);
    const b = f32s([1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 5, 5]);
    const c = zerosF32(8);
    tnResetFlops();
    tnRun(i32s([TN_GEMM, 20, <i32>c, 2, <i32>a, 3, 1, 6, <i32>b, 2, 6, 2, 2, 3, 1, 0, 2, 4, 6, 6]), 20);
    expectF32s(c, [4, 5, 10, 11, 2, 0, 0, 2], 'C');
    expect(tnFlops()).toBe(2.0 * 2 * 2 * 3 * 1 * 2);
    const d = f32s([1, 1, 1, 1, 1, 1, 1, 1]);
    tnRun(i32s([TN_ADD, 5, <i32>d, <i32>c, 8, TN_ZERO, 4, <i32>c, 4]), 9);
    expectF32s(d, [5, 6, 11, 12, 3, 1, 1, 3], 'd += C');
    expectF32s(c, [0, 0, 0, 0, 2, 0, 0, 2], 'first 4 zeroed');
  });

  it('GATHER rows by index, SCATTER adds them back (duplicates sum)', () => {
    const table = f32s([1, 2, 10, 20, 100, 200]);
    const idx = i32s([2, 0, 2]);
    const out = zerosF32(6), back = zerosF32(6);
    tnRun(i32s([TN_GATHER, 7, <i32>out, <i32>table, <i32>idx, 3, 2, TN_SCATTER, 7, <i32>back, <i32>out, <i32>idx, 3, 2]), 14);
    expectF32s(out, [100, 200, 1, 2, 100, 200], 'gathered');
    expectF32s(back, [1, 2, 0, 0, 200, 400], 'scattered');
  });

  it('the layer ops read the word layouts of the header (BIAS … LOSS), on exact small integers', () => {
    // y [2×2] += bias; relu in place; dbias = column sums of dy
    const y = f32s([1, -5, 3, 4]), bias = f32s([1, 2]), dbias = f32s([9, 9]);
    const dy = f32s([1, 2, 3, 4]);
    tnRun(i32s([TN_BIAS, 6, <i32>y, <i32>bias, 2, 2, TN_ACT, 6, ACT_RELU, <i32>y, <i32>y, 4,
      TN_ACT_GRAD, 7, ACT_RELU, <i32>dy, <i32>dy, <i32>y, 4, TN_BIAS_GRAD, 6, <i32>dbias, <i32>dy, 2, 2]), 25);
    expectF32s(y, [2, 0, 4, 6], 'relu(y + bias)');
    expectF32s(dy, [1, 0, 3, 4], 'dy ⊙ (y > 0)');
    expectF32s(dbias, [4, 4], 'dbias');
    // concat [2×1] and [2×2] into t [2 rows, k = 3, d = 1]; interact → z [2×3]; its gradient for dz = 1
    const a = f32s([1, 2]), b = f32s([3, 4, 5, 6]), t = zerosF32(6), z = zerosF32(6), dz = f32s([1, 1, 1, 1, 1, 1]);
    const dt = zerosF32(6);
    tnRun(i32s([TN_COPY2D, 9, <i32>t, 3, <i32>a, 1, 2, 1, 0, TN_COPY2D, 9, <i32>(t + 4), 3, <i32>b, 2, 2, 2, 0,
      TN_INTERACT, 7, <i32>z, <i32>t, 2, 3, 1, TN_INTERACT_GRAD, 8, <i32>dt, <i32>dz, <i32>t, 2, 3, 1]), 33);
    expectF32s(t, [1, 3, 4, 2, 5, 6], 'concat');
    expectF32s(z, [3, 4, 12, 10, 12, 30], 'pairs (1,0), (2,0), (2,1) per row');
    expectF32s(dt, [7, 5, 4, 11, 8, 7], 'dt[i] = Σ_{j≠i} t[j]');
    // MSE over 1 of 2 rows (the second is padding): loss = ((1−0)² + (3−1)²)/2, dy = (2/2)·diff·gradScale
    const yl = f32s([1, 3, 100, 100]), tl = f32s([0, 1, 0, 0]), dyl = f32s([7, 7, 7, 7]);
    const meta = zerosF32(8);
    store<i32>(meta, 1);
    store<f32>(meta, 0.5, 4);
    store<i32>(meta, 99, 16);
    tnRun(i32s([TN_LOSS, 9, LOSS_MSE, <i32>dyl, <i32>yl, <i32>tl, 2, 2, <i32>meta]), 9);
    expect(load<f64>(meta, 8)).toBe(2.5);
    expect(getI32(meta, 4)).toBe(0);
    expectF32s(dyl, [0.5, 1, 0, 0], 'dy, padding row zeroed');
  });
});
