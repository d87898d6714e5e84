// Tensor-network programs: the host (src/tn/) lowers every format's contraction path — forward,
// backward, reconstruction, embedding gathers — to a flat list of ops over addresses, and this
// interpreter runs it. One program per (layer, lane, phase) is linked once at plan time, so a
// training step is a handful of calls whatever the format.
//
// Program words (i32; addresses are byte offsets read as u32, lengths and strides in floats):
//   GEMM     [1, 20, c, ldc, a, sai, sak, strideA, b, ldb, strideB, m, n, k, t, acc, h, hc, ha, hb]
//            for i < h: brgemmF32 over (c + i·hc, a + i·ha, b + i·hb)  — a batched batch-reduce GEMM
//   PERMUTE  [2, 5 + 3·rank, dst, src, rank, dims[rank], srcStrides[rank], odometer[rank]]
//            dst is dense row-major over dims; element (i_0..) comes from src + Σ i_j·srcStrides[j].
//            The odometer words are the op's own scratch: a program is run by one thread at a time
//            (one per lane), while static data would be shared by every thread's instance.
//   ZERO     [3, 4, dst, n]
//   GATHER   [4, 7, dst, src, idx, count, rowFloats]        dst row i = src row idx[i]
//   SCATTER  [5, 7, dst, src, idx, count, rowFloats]        dst row idx[i] += src row i, i ascending
//   ADD      [6, 5, dst, src, n]                            dst += src
//   BIAS     [7, 6, y, bias, rows, cols]                    y[r][j] += bias[j]  (biasAddF32)
//   BIASGRAD [8, 6, dbias, dy, rows, cols]                  dbias[j] = Σ_r dy[r][j], overwritten, row order (biasGradF32)
//   ACT      [9, 6, fn, y, x, n]                            y = f(x), y may equal x; fn is an ACT_* code
//   ACTGRAD  [10, 7, fn, dx, dy, y, n]                      dx = dy ⊙ f'(·) from the output y; dx may equal dy
//   COPY2D   [11, 9, dst, ldDst, src, ldSrc, rows, cols, acc]
//            dst[r·ldDst + j] = src[r·ldSrc + j] (acc 0: a bit copy) or += (acc 1): concat fwd / bwd
//   INTERACT [12, 7, z, t, rows, k, d]                      t [rows,k,d] → z [rows, k(k−1)/2]: for i = 1..k−1,
//                                                            j = 0..i−1, z[r][p++] = Σ_c t[r,i,c]·t[r,j,c]
//   INTERACTGRAD [13, 8, dt, dz, t, rows, k, d]             dt (overwritten) = ∂(Σ dz·z)/∂t; dt aliases neither
//   LOSS     [14, 9, fn, dy, y, target, maxRows, cols, meta]
//            fn is a LOSS_* code. meta is the lane's 32-byte cell: i32 rows @0 and f32 gradScale @4
//            (host-written), f64 loss sum over the rows @8 and i32 correct @16 (written here).
//            Rows [rows, maxRows) are padding: their dy rows are zeroed and they add nothing.
//            dy = 0: loss only (no gradient written); dy may alias y. Targets: i32 class per row
//            (softmax-xent), f32 per element (sigmoid-bce 0/1, mse).
//   SCALE    [15, 5, y, n, alpha]                          y *= alpha (alpha: the f32's bits; mean pooling)
//   LUT      [16, 6, dst, src, n, table]                   dst[i] = table[src[i]] (src u8, table 256 f32): a u8
//            input standardised in the core, by the host's table (so its values are exact f64 math)
//   AFFINE   [17, 8, dst, src, mean, invStd, rows, cols]   dst[r][j] = (src[r][j] − mean[j])·invStd[j] (f32 inputs)
//   QGEMM … QAFFINE (18–23): integer inference ops, see assembly/quant.ts.
//   GEMM_I16 [24, 29 + S, <GEMM's 18 words>, mode, seed, stream, counts, bPacked, rng[4], scratch[S]]
//            the GEMM in int16 (training with --precision int16): per head, A's and B's t blocks
//            are packed as int16 (k·t padded to kp = 8⌈k·t/8⌉) at the power-of-two scale their
//            largest |x| allows with operandBits(k·t) bits, multiplied on dot_i16x8_s into int32
//            and rescaled into f32 (assembly/lowp.ts; hw-sim/fixed/lowp.ts is the model). mode 0:
//            nearest-even; mode bit 0 (A), bit 1 (B): that operand stochastic, its element e
//            drawing lowp.ts srDraw(e, keys); rng[4] is seeded at every run by (the u64 at address
//            `seed`, `stream`) and gives each head four u32 keys (A's two, B's two). counts (0: none): three u32 the op adds to (lowp.ts addCounts). bPacked (0:
//            none; mode 0, one head): B was packed there by a PACK_I16 (frac, then Bᵀ). An operand
//            holding NaN or ±∞ makes that head's C all NaN (int16 has no such values; the
//            trainer's guard must see them). The S scratch words ((m + n)·kp int16, m·kp with
//            bPacked, from the first 16-byte boundary, 4 words of slack) are the op's own, like
//            PERMUTE's odometer.
//   PACK_I16 [25, 18, dst, b, ldb, strideB, n, k, t, counts, j0, j1, seed, stream, rng[4]]   B's t blocks packed as
//            GEMM_I16 packs them, into dst: the i32 frac (NONFINITE for NaN or ±∞), 12 bytes, then n
//            int16 rows of kp (src/tn/opcodes.ts packedI16Bytes). Only B's columns [j0, j1) are
//            packed (rows j0..j1 of Bᵀ), at the frac of all n: a large B is packed by several jobs,
//            each scanning all of B for its largest |x| and packing its own columns (same bits).
//            Each job writes the frac (the same value). seed 0: nearest-even; else stochastic,
//            with the keys GEMM_I16 on (seed, stream) gives its head 0's B (then a mode 0 GEMM_I16
//            reading it equals a mode 2 one on that stream: a gradient B packed once for several GEMMs).
// Word 1 of every op is its length, so the interpreter can skip and the host can check. The codes
// here and in src/tn/opcodes.ts are checked equal by test/opcodes.test.ts (exported as globals).
import { brgemmF32 } from './gemm';
import { qRun } from './quant';
import { permuteF32 } from './permute';
import { packRowsI16, packColsI16, packRowsI16Sr, packColsI16Sr, packColsRangeI16, packColsRangeI16Sr, gemmI16, operandBits, NONFINITE } from './lowp';
import { rngSeed, rngNextU32 } from './rng';
import {
  addF32, biasAddF32, biasGradF32, reluToF32, reluBackwardToF32, sigmoidF32, sigmoidBackwardF32, tanhF32,
  tanhBackwardF32, scaleF32, lutU8F32, affineF32, copy2dF32, interactF32, interactGradF32, softmaxXent, sigmoidBceF32, mseF32,
} from './ops';

export const TN_GEMM: i32 = 1;
export const TN_PERMUTE: i32 = 2;
export const TN_ZERO: i32 = 3;
export const TN_GATHER: i32 = 4;
export const TN_SCATTER: i32 = 5;
export const TN_ADD: i32 = 6;
export const TN_BIAS: i32 = 7;
export const TN_BIAS_GRAD: i32 = 8;
export const TN_ACT: i32 = 9;
export const TN_ACT_GRAD: i32 = 10;
export const TN_COPY2D: i32 = 11;
export const TN_INTERACT: i32 = 12;
export const TN_INTERACT_GRAD: i32 = 13;
export const TN_LOSS: i32 = 14;
export const TN_SCALE: i32 = 15;
export const TN_LUT: i32 = 16;
export const TN_AFFINE: i32 = 17;
// Integer inference ops (assembly/quant.ts).
export const TN_QGEMM: i32 = 18;
export const TN_QPERMUTE: i32 = 19;
export const TN_QBIAS: i32 = 20;
export const TN_QRELU: i32 = 21;
export const TN_QLUT: i32 = 22;
export const TN_QAFFINE: i32 = 23;
export const TN_GEMM_I16: i32 = 24;
export const TN_PACK_I16: i32 = 25;
/** Op codes are 1..TN_OP_COUNT. */
export const TN_OP_COUNT: i32 = 25;

export const ACT_RELU: i32 = 1;
export const ACT_SIGMOID: i32 = 2;
export const ACT_TANH: i32 = 3;
export const ACT_COUNT: i32 = 3;

export const LOSS_SOFTMAX_XENT: i32 = 1;
export const LOSS_SIGMOID_BCE: i32 = 2;
export const LOSS_MSE: i32 = 3;
export const LOSS_COUNT: i32 = 3;

/** Multiply-adds ×2 executed by GEMM ops since the last tnResetFlops: the instrumented count. */
let flopCount: f64 = 0;

export function tnFlops(): f64 { return flopCount; }
export function tnResetFlops(): void { flopCount = 0; }

// @ts-ignore: decorator
@inline function word(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function addr(p: usize, i: i32): usize { return <usize>load<u32>(p + (<usize>i << 2)); }

/** Runs `words` i32s of program at `prog`. */
export function tnRun(prog: usize, words: i32): void {
  let p = prog;
  const end = prog + (<usize>words << 2);
  while (p < end) {
    const op = word(p, 0);
    if (op == TN_GEMM) gemm(p, false);
    else if (op == TN_PERMUTE) permuteF32(addr(p, 2), addr(p, 3), word(p, 4), p + 20);
    else if (op == TN_ZERO) memory.fill(addr(p, 2), 0, <usize>word(p, 3) << 2);
    else if (op == TN_GATHER) gather(addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6));
    else if (op == TN_SCATTER) scatterAdd(addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6));
    else if (op == TN_ADD) addF32(addr(p, 2), addr(p, 3), word(p, 4));
    else if (op == TN_BIAS) biasAddF32(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5));
    else if (op == TN_BIAS_GRAD) biasGradF32(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5));
    else if (op == TN_ACT) act(word(p, 2), addr(p, 3), addr(p, 4), word(p, 5));
    else if (op == TN_ACT_GRAD) actGrad(word(p, 2), addr(p, 3), addr(p, 4), addr(p, 5), word(p, 6));
    else if (op == TN_COPY2D) copy2dF32(addr(p, 2), word(p, 3), addr(p, 4), word(p, 5), word(p, 6), word(p, 7), word(p, 8) != 0);
    else if (op == TN_INTERACT) interactF32(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5), word(p, 6));
    else if (op == TN_INTERACT_GRAD) interactGradF32(addr(p, 2), addr(p, 3), addr(p, 4), word(p, 5), word(p, 6), word(p, 7));
    else if (op == TN_LOSS) loss(p);
    else if (op == TN_SCALE) scaleF32(addr(p, 2), word(p, 3), reinterpret<f32>(word(p, 4)));
    else if (op == TN_LUT) lutU8F32(addr(p, 2), addr(p, 3), word(p, 4), addr(p, 5));
    else if (op == TN_AFFINE) affineF32(addr(p, 2), addr(p, 3), addr(p, 4), addr(p, 5), word(p, 6), word(p, 7));
    else if (op >= TN_QGEMM && op <= TN_QAFFINE) qRun(op, p);
    else if (op == TN_GEMM_I16) gemm(p, true);
    else if (op == TN_PACK_I16) packI16(p);
    else unreachable();
    p += <usize>word(p, 1) << 2;
  }
}

function act(fn: i32, y: usize, x: usize, n: i32): void {
  if (fn == ACT_RELU) reluToF32(y, x, n);
  else if (fn == ACT_SIGMOID) sigmoidF32(y, x, n);
  else if (fn == ACT_TANH) tanhF32(y, x, n);
  else unreachable();
}

function actGrad(fn: i32, dx: usize, dy: usize, y: usize, n: i32): void {
  if (fn == ACT_RELU) reluBackwardToF32(dx, dy, y, n);
  else if (fn == ACT_SIGMOID) sigmoidBackwardF32(dx, dy, y, n);
  else if (fn == ACT_TANH) tanhBackwardF32(dx, dy, y, n);
  else unreachable();
}

function loss(p: usize): void {
  const fn = word(p, 2);
  const dy = addr(p, 3), y = addr(p, 4), target = addr(p, 5);
  const maxRows = word(p, 6), cols = word(p, 7);
  const meta = addr(p, 8);
  const rows = load<i32>(meta);
  // A row count past the plan's rows would read and write outside it: a host bug, so trap.
  if (rows < 0 || rows > maxRows) unreachable();
  const gradScale = load<f32>(meta, 4);
  let sum: f64 = 0;
  store<i32>(meta, 0, 16); // MSE counts nothing correct
  if (fn == LOSS_SOFTMAX_XENT) sum = softmaxXent<i32>(dy, y, target, rows, cols, meta + 16, gradScale);
  else if (fn == LOSS_SIGMOID_BCE) sum = sigmoidBceF32(dy, y, target, rows, cols, meta + 16, gradScale);
  else if (fn == LOSS_MSE) sum = mseF32(dy, y, target, rows, cols, gradScale);
  else unreachable();
  store<f64>(meta, sum, 8);
  if (dy != 0) memory.fill(dy + ((<usize>rows * cols) << 2), 0, (<usize>(maxRows - rows) * cols) << 2);
}

/** PACK_I16: B packed once for the GEMM_I16 ops that name it as bPacked (see the header). */
function packI16(p: usize): void {
  const dst = addr(p, 2), k = word(p, 7), t = word(p, 8);
  const kt = k * t, kp = (kt + 7) & ~7, seed = addr(p, 12);
  if (seed == 0) {
    store<i32>(dst, packColsRangeI16(dst + 16, kp, addr(p, 3), word(p, 4), word(p, 5), word(p, 6), k, t, operandBits(kt), word(p, 10), word(p, 11), addr(p, 9)));
    return;
  }
  // Stochastic: the keys GEMM_I16 head 0 would give its B on this stream (the third and fourth draws).
  const rng = p + (14 << 2);
  rngSeed(rng, load<u64>(seed), <u64>word(p, 13));
  rngNextU32(rng); rngNextU32(rng);
  const k0 = rngNextU32(rng), k1 = rngNextU32(rng);
  store<i32>(dst, packColsRangeI16Sr(dst + 16, kp, addr(p, 3), word(p, 4), word(p, 5), word(p, 6), k, t, operandBits(kt), word(p, 10), word(p, 11), k0, k1, addr(p, 9)));
}

/** GEMM and GEMM_I16 (same first 18 words; see the header). */
function gemm(p: usize, int16: bool): void {
  const c = addr(p, 2), ldc = word(p, 3);
  const a = addr(p, 4), sai = word(p, 5), sak = word(p, 6), strideA = word(p, 7);
  const b = addr(p, 8), ldb = word(p, 9), strideB = word(p, 10);
  const m = word(p, 11), n = word(p, 12), k = word(p, 13), t = word(p, 14);
  const acc = word(p, 15) != 0;
  const h = word(p, 16);
  const hc = <usize>word(p, 17) << 2, ha = <usize>word(p, 18) << 2, hb = <usize>word(p, 19) << 2;
  const kt = k * t, kp = (kt + 7) & ~7, bits = int16 ? operandBits(kt) : 0;
  // GEMM_I16's scratch, from the first 16-byte boundary after the 29 words (4 words of slack).
  const qa = (p + (29 << 2) + 15) & ~(<usize>15);
  const mode = int16 ? word(p, 20) : 0, rng = p + (25 << 2), cnt = int16 ? addr(p, 23) : 0;
  const srA = (mode & 1) != 0, srB = (mode & 2) != 0;
  const aCols = sai == 1 && (sak != 1 || k == 1) && m > 1;
  const bPacked = int16 ? addr(p, 24) : 0; // PACK_I16's output: frac, then Bᵀ (mode 0, one head)
  const qb = bPacked != 0 ? bPacked + 16 : qa + ((<usize>m * kp) << 1);
  if (mode != 0) rngSeed(rng, load<u64>(addr(p, 21)), <u64>word(p, 22));
  for (let i = 0; i < h; i++) {
    if (int16) {
      const ai = a + <usize>i * ha, bi = b + <usize>i * hb;
      // Stochastic modes: four keys per head from the op's stream (A's pair, B's pair), drawn
      // whichever operands round stochastically, so a head's keys depend on its index only.
      let ka0: u32 = 0, ka1: u32 = 0, kb0: u32 = 0, kb1: u32 = 0;
      if (mode != 0) { ka0 = rngNextU32(rng); ka1 = rngNextU32(rng); kb0 = rngNextU32(rng); kb1 = rngNextU32(rng); }
      // An A whose rows are contiguous columns (sai = 1: xᵀ in dW = xᵀ·dy) is packed as B is, 8
      // rows transposed in registers at a time: the same int16 values and draws (packCols' element
      // (j, tt·k + kk) is packRows' (r, tt·k + kk)), where packRows would gather element by element.
      const fa = aCols
        ? (srA ? packColsI16Sr(qa, kp, ai, sak, strideA, m, k, t, bits, ka0, ka1, cnt) : packColsI16(qa, kp, ai, sak, strideA, m, k, t, bits, cnt))
        : srA ? packRowsI16Sr(qa, kp, ai, sai, sak, strideA, m, k, t, bits, ka0, ka1, cnt) : packRowsI16(qa, kp, ai, sai, sak, strideA, m, k, t, bits, cnt);
      // B is not packed once A is not finite (the head's C is NaN either way).
      const fb = fa == NONFINITE ? NONFINITE
        : bPacked != 0 ? load<i32>(bPacked)
        : srB ? packColsI16Sr(qb, kp, bi, ldb, strideB, n, k, t, bits, kb0, kb1, cnt) : packColsI16(qb, kp, bi, ldb, strideB, n, k, t, bits, cnt);
      const ci = c + <usize>i * hc;
      if (fa == NONFINITE || fb == NONFINITE) {
        if (cnt != 0) store<u32>(cnt, load<u32>(cnt, 8) + 1, 8);
        for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) store<f32>(ci + ((<usize>r * ldc + j) << 2), NaN);
        continue;
      }
      gemmI16(ci, ldc, qa, kp, qb, kp, m, n, kp, <f32>Math.pow(2.0, -<f64>(fa + fb)), acc);
    } else {
      brgemmF32(c + <usize>i * hc, ldc, a + <usize>i * ha, sai, sak, strideA, b + <usize>i * hb, ldb, strideB, m, n, k, t, acc);
    }
  }
  flopCount += 2.0 * <f64>m * <f64>n * <f64>k * <f64>t * <f64>h;
}

function gather(dst: usize, src: usize, idx: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let i = 0; i < count; i++) {
    memory.copy(dst + <usize>i * rowBytes, src + <usize>load<i32>(idx + (<usize>i << 2)) * rowBytes, rowBytes);
  }
}

function scatterAdd(dst: usize, src: usize, idx: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let i = 0; i < count; i++) {
    addF32(dst + <usize>load<i32>(idx + (<usize>i << 2)) * rowBytes, src + <usize>i * rowBytes, rowFloats);
  }
}
