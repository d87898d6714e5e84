// The core IR's op table, once: each op's code (assembly/tn.ts TN_*) and its length in words
// (a number, or a function of the op for variable-length ones), plus the codes of the ACT and LOSS
// functions. link() emits word 1 from here and checks it; test/opcodes.test.ts checks every code
// against the core's exported globals on each flavour, so the two sides cannot drift.
/** Activation functions the core's act/actGrad ops compute. */
export type ActFn = 'relu' | 'sigmoid' | 'tanh';
/** Losses the core's loss op computes. */
export type LossFn = 'softmax-xent' | 'sigmoid-bce' | 'mse';

export const OP_TABLE = {
  gemm: { code: 1, words: 20 },
  permute: { code: 2, words: (o: { dims: number[] }): number => 5 + 3 * o.dims.length },
  zero: { code: 3, words: 4 },
  gather: { code: 4, words: 7 },
  scatter: { code: 5, words: 7 },
  add: { code: 6, words: 5 },
  bias: { code: 7, words: 6 },
  biasGrad: { code: 8, words: 6 },
  act: { code: 9, words: 6 },
  actGrad: { code: 10, words: 7 },
  copy2d: { code: 11, words: 9 },
  interact: { code: 12, words: 7 },
  interactGrad: { code: 13, words: 8 },
  loss: { code: 14, words: 9 },
  scale: { code: 15, words: 5 },
  lut: { code: 16, words: 6 },
  affine: { code: 17, words: 8 },
  qgemm: { code: 18, words: 21 },
  qpermute: { code: 19, words: (o: { dims: number[] }): number => 6 + 3 * o.dims.length },
  qbias: { code: 20, words: 7 },
  qrelu: { code: 21, words: 6 },
  qlut: { code: 22, words: 7 },
  qaffine: { code: 23, words: 10 },
  gemmI16: { code: 24, words: (o: { m: number; n: number; k: number; t: number; bPacked?: unknown }): number => GEMM_I16_HEADER_WORDS + gemmI16ScratchWords(o) },
  packI16: { code: 25, words: 18 },
} as const;

/** GEMM_I16's words before its scratch: code, length, GEMM's 18, mode, seed, stream, counts, bPacked, a 4-word rng state. */
export const GEMM_I16_HEADER_WORDS = 29;

/** The int16 GEMM op's own scratch: A and Bᵀ packed as int16 rows of kp = 8⌈k·t/8⌉ (assembly/tn.ts GEMM_I16). */
export function gemmI16ScratchWords(o: { m: number; n: number; k: number; t: number; bPacked?: unknown }): number {
  const kp = Math.ceil((o.k * o.t) / 8) * 8;
  return Math.ceil(((o.m + (o.bPacked ? 0 : o.n)) * kp * 2) / 4) + 4; // + 4: the scratch starts at a 16-byte boundary
}

/** PACK_I16's output: the frac (i32, then 12 bytes of padding), then Bᵀ as n int16 rows of kp (GEMM_I16's bPacked). */
export function packedI16Bytes(o: { n: number; k: number; t: number }): number {
  return 16 + o.n * Math.ceil((o.k * o.t) / 8) * 8 * 2;
}

export type OpName = keyof typeof OP_TABLE;

/** Codes run 1..OP_COUNT (the core's TN_OP_COUNT). */
export const OP_COUNT = Object.keys(OP_TABLE).length;

/** The fn word of ACT / ACTGRAD and LOSS ops (the core's ACT_* and LOSS_* globals). */
export const ACT_CODE: Readonly<Record<ActFn, number>> = { relu: 1, sigmoid: 2, tanh: 3 };
export const LOSS_CODE: Readonly<Record<LossFn, number>> = { 'softmax-xent': 1, 'sigmoid-bce': 2, mse: 3 };

/** The core's global for a table name: TN_ + upper snake case (biasGrad → TN_BIAS_GRAD, copy2d → TN_COPY2D). */
export function coreGlobalName(prefix: 'TN' | 'ACT' | 'LOSS', name: string): string {
  return `${prefix}_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toUpperCase()}`;
}
