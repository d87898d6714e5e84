// The tensor-network program interpreter on small integer cases (every product and sum exact in
// f32, so results compare exactly): each op, op lengths, batched GEMM strides, the flop counter.
import { tnRun, tnFlops, tnResetFlops, TN_GEMM, TN_PERMUTE, TN_ZERO, TN_GATHER, TN_SCATTER, TN_ADD } from '../tn';
import { zerosF32, f32s, i32s, expectF32s } from './helpers';

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
});
