// Loading the core: pick a flavour, compile, instantiate. The product talks to the module through
// plain exports and pointer views (no generated bindings: they copy typed arrays).
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import { showValue } from '../util/show.js';

export type Flavour = 'node' | 'edge-simd' | 'edge-scalar';
export const FLAVOURS: Flavour[] = ['node', 'edge-simd', 'edge-scalar'];

/** The exports of assembly/index.ts (addresses are byte offsets, counts are element counts). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  brgemmF32(c: number, ldc: number, a: number, sai: number, sak: number, strideA: number, b: number, ldb: number,
    strideB: number, m: number, n: number, k: number, batch: number, accumulate: number): void;
  transposeF32(dst: number, src: number, rows: number, cols: number, lds: number): void;
  peakF32x4(iters: number, seed: number): number;
  PEAK_FLOPS_PER_ITER: WebAssembly.Global;
  biasAddF32(y: number, bias: number, rows: number, cols: number): void;
  biasGradF32(dbias: number, dy: number, rows: number, cols: number): void;
  reluF32(y: number, n: number): void;
  reluBackwardF32(dy: number, y: number, n: number): void;
  softmaxXentF32(dlogits: number, logits: number, labels: number, rows: number, cols: number, correct: number, gradScale: number): number;
  addF32(y: number, x: number, n: number): void;
  adamF32(params: number, grads: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number,
    eps: number, step: number): void;
  /** Row-sparse forms over the `count` i32 row ids at `rows` (a dense embedding table's touched rows). */
  adamRowsF32(params: number, grads: number, m: number, v: number, rows: number, count: number, rowFloats: number,
    lr: number, beta1: number, beta2: number, eps: number, step: number): void;
  addRowsF32(y: number, x: number, rows: number, count: number, rowFloats: number): void;
  /** x = 0 zeroes the rows. */
  copyRowsF32(y: number, x: number, rows: number, count: number, rowFloats: number): void;
  /** Low-precision kernels (assembly/lowp.ts): returns saturations / the largest |x|. */
  quantI16(q: number, ldq: number, x: number, ldx: number, rows: number, cols: number, transpose: boolean,
    frac: number, stochastic: boolean, rng: number): number;
  maxAbsF32(x: number, n: number): number;
  gemmI16(c: number, ldc: number, a: number, lda: number, bt: number, ldb: number, m: number, n: number, kp: number,
    scale: number, accumulate: boolean): void;
  /** A training GEMM's operand packing (GEMM_I16): returns the frac used (0x7fffffff: NaN or ±∞ seen); cnt: its counters (0: none). */
  packRowsI16(q: number, kp: number, a: number, sai: number, sak: number, strideA: number, rows: number, k: number, t: number, bits: number, cnt: number): number;
  packColsI16(q: number, kp: number, b: number, ldb: number, strideB: number, n: number, k: number, t: number, bits: number, cnt: number): number;
  /** The same with stochastic rounding, element e drawing srDraw(e, k0, k1) (GEMM_I16's mode bits). */
  packRowsI16Sr(q: number, kp: number, a: number, sai: number, sak: number, strideA: number, rows: number, k: number, t: number, bits: number, k0: number, k1: number, cnt: number): number;
  packColsI16Sr(q: number, kp: number, b: number, ldb: number, strideB: number, n: number, k: number, t: number, bits: number, k0: number, k1: number, cnt: number): number;
  rngSeed(rng: number, seed: bigint, stream: bigint): void;
  rngNextU32(rng: number): number;
  rngTruncNormalF32(rng: number, out: number, n: number, std: number, bound: number): void;
  rngShuffleI32(rng: number, arr: number, n: number): void;
  /** Runs a linked tensor-network program (src/tn/compile.ts link). */
  tnRun(prog: number, words: number): void;
  tnFlops(): number;
  sampleWeightsF32(w: number, eps: number, mu: number, rho: number, rng: number, n: number): void;
  sviGradF32(gmu: number, grho: number, mu: number, rho: number, eps: number, precision: number,
    outer: number, slices: number, inner: number, beta: number): number;
  mapGradF32(gmu: number, mu: number, precision: number, outer: number, slices: number, inner: number, beta: number): number;
  sliceSquaresF64(out: number, mu: number, rho: number, outer: number, slices: number, inner: number): void;
  tnResetFlops(): void;
  dotI16(a: number, b: number, n: number): number;
  requantI32ToI16(out: number, acc: number, n: number, shift: number, mode: number): void;
  q15MulrSatI16(out: number, a: number, b: number, n: number): void;
  selftest(): number;
  selftestChecksum(): number;
}

export interface Core {
  flavour: Flavour;
  exports: CoreExports;
  memory: WebAssembly.Memory;
  /** The compiled module, so a worker thread can instantiate it over the same (shared) memory. */
  module: WebAssembly.Module;
  /** True when the memory is shared: kernels may then run in several threads over one plan. */
  shared: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Where a flavour's .wasm lives: build/ at the package root (this file runs from build/js/src/core or src/core). */
export function wasmPath(flavour: Flavour | 'model-simd' | 'model-scalar'): string {
  for (const dir of [join(here, '..', '..', '..', '..', 'build'), join(here, '..', '..', 'build')]) {
    const p = join(dir, `btnn.${flavour}.wasm`);
    if (existsSync(p)) return p;
  }
  throw new Error(`build/btnn.${flavour}.wasm not found: run \`npm run build\` (or \`npm ci\`, which builds it)`);
}

// A module holding one v128.const: validates only where fixed-width SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

let tieringSet = false;
/**
 * Compile with the optimising tier from the start: a training step is a few long kernel calls,
 * and V8 cannot swap a running wasm call from its baseline (Liftoff) code, which is 2–3× slower.
 */
function preferOptimizingTier(): void {
  if (tieringSet) return;
  v8.setFlagsFromString('--no-liftoff');
  tieringSet = true;
}

/**
 * The node flavour imports a shared memory (so worker threads can run kernels over the same plan);
 * the edge flavours own an unshared memory and import nothing. `memory` attaches to an existing
 * shared memory (a worker joining the main thread's instance).
 */
export async function loadCore(flavour?: Flavour, memory?: WebAssembly.Memory, module?: WebAssembly.Module): Promise<Core> {
  const chosen = flavour ?? (simdSupported() ? 'node' : 'edge-scalar');
  if (!FLAVOURS.includes(chosen)) throw new Error(`flavour ${showValue(chosen)}: must be one of ${FLAVOURS.join(', ')}`);
  preferOptimizingTier();
  const compiled = module ?? await WebAssembly.compile(readFileSync(wasmPath(chosen)));
  const memoryImport = WebAssembly.Module.imports(compiled).find((i) => i.kind === 'memory');
  const env: Record<string, unknown> = {
    abort(): never {
      throw new Error('btnn core aborted: an internal invariant broke; please report it');
    },
  };
  if (memoryImport) {
    try {
      env.memory = memory ?? new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    } catch (err) {
      // A 4 GiB shared reservation can fail on 32-bit hosts: fall back to the unshared SIMD build.
      if (flavour === undefined) return loadCore('edge-simd');
      throw new Error(`flavour node: cannot create its shared memory (${(err as Error).message}); use --flavour edge-simd`);
    }
  }
  const instance = await WebAssembly.instantiate(compiled, { env: env as WebAssembly.ModuleImports });
  const exports = instance.exports as unknown as CoreExports;
  const mem = memoryImport ? (env.memory as WebAssembly.Memory) : exports.memory;
  return { flavour: chosen, exports, memory: mem, module: compiled, shared: Boolean(memoryImport) };
}
