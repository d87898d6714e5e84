// Lowering contraction trees to core programs (assembly/tn.ts). A pairwise contraction
// C = Σ_K A·B is one batched batch-reduce GEMM once its operands are laid out as
//   P = [H, Kpre, M, Kpost]   (H: indices in A, B and C; M: in P and C; K: contracted)
//   Q = [H, Kpre, Kpost, N]   C = [H, M, N]
// with P, Q being A, B in either role. Layouts that do not fit are permuted into scratch first
// (and a result into its required layout after); the choice that moves the fewest floats wins.
// The backward of C = A·B is two more contractions, dA = dC·B and dB = A·dC, so gradients of
// every factor (and of x) come from the same lowering.
import { product } from '../util/math.js';
import type { Tree } from './path.js';
import { OP_TABLE, ACT_CODE, LOSS_CODE, type OpName } from './opcodes.js';

/** A symbolic address: a named buffer (resolved at link time) plus an offset in floats. */
export interface Ref { buf: string; off: number }
export interface Operand { ref: Ref; indices: string[] }

export type Op =
  | { op: 'gemm'; c: Ref; ldc: number; a: Ref; sai: number; sak: number; strideA: number; b: Ref; ldb: number; strideB: number;
      m: number; n: number; k: number; t: number; acc: boolean; h: number; hc: number; ha: number; hb: number }
  /**
   * A gemm computed in int16 (--precision int16): the same fields. mode 0 rounds both operands to
   * nearest-even; mode bit 0 rounds A, bit 1 rounds B stochastically instead, each element by a
   * keyed hash of its index, the keys per head and operand drawn from a PCG32 stream seeded by
   * (the u64 at `seed`, `stream`) (assembly/lowp.ts srDraw): a step's backward GEMMs, whose
   * gradient operands would otherwise lose every update smaller than half a step, always in the
   * same direction (parameters and saved activations stay nearest: they are not gradients). `counts`:
   * three u32 the op adds to (values quantised, nonzero values rounded to 0, non-finite heads).
   */
  | { op: 'gemmI16'; c: Ref; ldc: number; a: Ref; sai: number; sak: number; strideA: number; b: Ref; ldb: number; strideB: number;
      m: number; n: number; k: number; t: number; acc: boolean; h: number; hc: number; ha: number; hb: number; mode: 0; counts?: Ref;
      /** B already packed by a PACK_I16 (h = 1): shared W packed once per step instead of once per lane. */
      bPacked?: Ref }
  | { op: 'gemmI16'; c: Ref; ldc: number; a: Ref; sai: number; sak: number; strideA: number; b: Ref; ldb: number; strideB: number;
      m: number; n: number; k: number; t: number; acc: boolean; h: number; hc: number; ha: number; hb: number; mode: 1 | 2 | 3; seed: Ref; stream: number; counts?: Ref }
  /**
   * B's t blocks packed as GEMM_I16 would (nearest-even at the frac its largest |x| gives) into
   * dst: the frac, then Bᵀ (tn/opcodes.ts packedI16Bytes). Run once per step for a B all lanes share.
   * cols [j0, j1): only those columns of B are packed, at the frac of all n (absent: all of them).
   * sr: stochastically instead, with the keys a GEMM_I16 on (seed, stream) gives its B (a
   * gradient read by several mode 0 GEMM_I16 ops, packed once).
   */
  | { op: 'packI16'; dst: Ref; b: Ref; ldb: number; strideB: number; n: number; k: number; t: number; counts?: Ref; cols?: [number, number]; sr?: { seed: Ref; stream: number } }
  | { op: 'permute'; dst: Ref; src: Ref; dims: number[]; strides: number[] }
  | { op: 'zero'; dst: Ref; n: number }
  | { op: 'gather' | 'scatter'; dst: Ref; src: Ref; idx: Ref; count: number; rowFloats: number }
  | { op: 'add'; dst: Ref; src: Ref; n: number }
  /** y[r][j] += bias[j] */
  | { op: 'bias'; y: Ref; bias: Ref; rows: number; cols: number }
  /** dbias[j] = Σ_r dy[r][j] (overwrite, row order) */
  | { op: 'biasGrad'; dbias: Ref; dy: Ref; rows: number; cols: number }
  /** y = f(x); y may equal x (in place) */
  | { op: 'act'; fn: ActFn; y: Ref; x: Ref; n: number }
  /** dx = dy ⊙ f'(·) computed from the OUTPUT y; dx may equal dy */
  | { op: 'actGrad'; fn: ActFn; dx: Ref; dy: Ref; y: Ref; n: number }
  /** dst[r·ldDst + j] = (acc ? dst[..] : 0) + src[r·ldSrc + j] (concat fwd / bwd; acc false is a bit copy) */
  | { op: 'copy2d'; dst: Ref; ldDst: number; src: Ref; ldSrc: number; rows: number; cols: number; acc: boolean }
  /** t is [rows, k, d]; z is [rows, k(k−1)/2]: for i = 1..k−1, j = 0..i−1 (this order), z[r][p++] = Σ_c t[r,i,c]·t[r,j,c] */
  | { op: 'interact'; z: Ref; t: Ref; rows: number; k: number; d: number }
  /** dt OVERWRITTEN with ∂/∂t of Σ dz·z (dt aliases neither dz nor t) */
  | { op: 'interactGrad'; dt: Ref; dz: Ref; t: Ref; rows: number; k: number; d: number }
  /**
   * Loss over a lane's rows; meta is its 32-byte cell (i32 rows @0, f32 gradScale @4 written by the
   * host; f64 loss sum @8, i32 correct @16 written by the op). dy null: loss only. See assembly/tn.ts.
   */
  | { op: 'scale'; y: Ref; n: number; alpha: number }
  | { op: 'lut'; dst: Ref; src: Ref; n: number; table: Ref }
  | { op: 'affine'; dst: Ref; src: Ref; mean: Ref; invStd: Ref; rows: number; cols: number }
  | { op: 'loss'; fn: LossFn; dy: Ref | null; y: Ref; target: Ref; maxRows: number; cols: number; meta: Ref };

export type { ActFn, LossFn } from './opcodes.js';
import type { ActFn, LossFn } from './opcodes.js';
import { showValue } from '../util/show.js';

/** Op name → core op code (kept for callers of the old literal; the table is src/tn/opcodes.ts). */
export const OPCODE = Object.fromEntries(Object.entries(OP_TABLE).map(([k, v]) => [k, v.code])) as
  { readonly [K in OpName]: (typeof OP_TABLE)[K]['code'] };

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Bump allocation inside one symbolic buffer, with marks for stack-like reuse and a high-water mark. */
export class Arena {
  used = 0;
  high = 0;
  constructor(readonly buf: string) {}
  alloc(floats: number): Ref {
    const ref = { buf: this.buf, off: this.used };
    this.used += roundUp4(floats);
    this.high = Math.max(this.high, this.used);
    return ref;
  }
  mark(): number { return this.used; }
  release(mark: number): void { this.used = mark; }
}

export function gemmFlops(op: Op): number {
  return op.op === 'gemm' || op.op === 'gemmI16' ? 2 * op.m * op.n * op.k * op.t * op.h : 0;
}

/** Floats a program moves without arithmetic (permutes, gathers, scatters): its memory-traffic overhead. */
export function movedFloats(ops: Op[]): number {
  let n = 0;
  for (const o of ops) {
    if (o.op === 'permute') n += product(o.dims);
    else if (o.op === 'gather' || o.op === 'scatter') n += o.count * o.rowFloats;
    else if (o.op === 'copy2d') n += o.rows * o.cols;
  }
  return n;
}

/**
 * Floats each op reads or writes once (an upper bound on traffic: no cache reuse counted). GEMM:
 * A, B, C (C twice when accumulating); permute, gather: read + write; scatter, add: 2 reads + write;
 * the layer ops: each operand once (an accumulated or in-place output twice).
 */
export function programTrafficFloats(ops: Op[]): number {
  let n = 0;
  for (const o of ops) {
    if (o.op === 'gemm' || o.op === 'gemmI16') n += o.h * (o.t * o.m * o.k + o.t * o.k * o.n + (o.acc ? 2 : 1) * o.m * o.n);
    else if (o.op === 'permute') n += 2 * product(o.dims);
    else if (o.op === 'gather') n += 2 * o.count * o.rowFloats;
    else if (o.op === 'scatter') n += 3 * o.count * o.rowFloats;
    else if (o.op === 'add') n += 3 * o.n;
    else if (o.op === 'zero') n += o.n;
    else if (o.op === 'bias') n += 2 * o.rows * o.cols + o.cols;
    else if (o.op === 'biasGrad') n += o.rows * o.cols + o.cols;
    else if (o.op === 'act') n += 2 * o.n;
    else if (o.op === 'actGrad') n += 3 * o.n;
    else if (o.op === 'copy2d') n += (o.acc ? 3 : 2) * o.rows * o.cols;
    else if (o.op === 'interact') n += o.rows * (o.k * o.d + (o.k * (o.k - 1)) / 2);
    else if (o.op === 'interactGrad') n += o.rows * (2 * o.k * o.d + (o.k * (o.k - 1)) / 2);
    else if (o.op === 'loss') n += (o.dy ? 3 : 2) * o.maxRows * o.cols;
    else if (o.op === 'scale') n += 2 * o.n;
    else if (o.op === 'lut') n += 1.25 * o.n;
    else if (o.op === 'affine') n += 2 * o.rows * o.cols + 2 * o.cols;
  }
  return n;
}

export const programFlops = (ops: Op[]): number => ops.reduce((s, o) => s + gemmFlops(o), 0);

const sameList = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Row-major strides (floats) of each index of a layout. */
function strides(layout: string[], dims: Record<string, number>): Map<string, number> {
  const s = new Map<string, number>();
  let acc = 1;
  for (let i = layout.length - 1; i >= 0; i--) { s.set(layout[i], acc); acc *= dims[layout[i]]; }
  return s;
}

/** Emits dst[to] = src[from] (a permutation of the same indices). */
export function emitPermute(ops: Op[], dims: Record<string, number>, src: Operand, to: string[], dst: Ref): Operand {
  const s = strides(src.indices, dims);
  ops.push({ op: 'permute', dst, src: src.ref, dims: to.map((ix) => dims[ix]), strides: to.map((ix) => s.get(ix)!) });
  return { ref: dst, indices: to };
}

interface Choice {
  P: Operand; Q: Operand; h: string[]; m: string[]; kpre: string[]; kpost: string[]; n: string[];
  permP: boolean; permQ: boolean; permOut: boolean; moved: number;
}

/** P's layout as [H, Kpre, M, Kpost], or null. */
function matchP(layout: string[], H: Set<string>, M: Set<string>): { h: string[]; kpre: string[]; m: string[]; kpost: string[] } | null {
  const h = layout.slice(0, H.size);
  if (!h.every((ix) => H.has(ix))) return null;
  const rest = layout.slice(H.size);
  if (M.size === 0) return { h, kpre: [], m: [], kpost: rest };
  const first = rest.findIndex((ix) => M.has(ix));
  const m = rest.slice(first, first + M.size);
  if (!m.every((ix) => M.has(ix))) return null;
  return { h, kpre: rest.slice(0, first), m, kpost: rest.slice(first + M.size) };
}

/**
 * The cheapest layout (fewest floats moved by permutes) of C (index set `outSet`) = contraction
 * of A and B, with C in layout `target` (any when null).
 */
function chooseContract(dims: Record<string, number>, A: Operand, B: Operand, outSet: string[], target: string[] | null, accumulate: boolean): Choice {
  const C = new Set(outSet);
  const inA = new Set(A.indices), inB = new Set(B.indices);
  for (const ix of [...A.indices, ...B.indices]) {
    if (!C.has(ix) && !(inA.has(ix) && inB.has(ix))) throw new Error(`index ${ix} would be summed inside one operand`);
  }
  for (const ix of C) if (!inA.has(ix) && !inB.has(ix)) throw new Error(`output index ${ix} is in neither operand`);
  if (target && (target.length !== C.size || !target.every((ix) => C.has(ix)))) throw new Error(`target [${target}] is not the set [${outSet}]`);
  const size = (ixs: string[]): number => product(ixs.map((ix) => dims[ix]));
  const order = (xs: string[]): string[] => (target ? target.filter((ix) => xs.includes(ix)) : xs);
  const choices: Choice[] = [];
  for (const [P, Q] of [[A, B], [B, A]] as const) {
    const inP = new Set(P.indices), inQ = new Set(Q.indices);
    const H = new Set(P.indices.filter((ix) => inQ.has(ix) && C.has(ix)));
    const M = new Set(P.indices.filter((ix) => C.has(ix) && !inQ.has(ix)));
    const K = P.indices.filter((ix) => inQ.has(ix) && !C.has(ix));
    const N = Q.indices.filter((ix) => C.has(ix) && !inP.has(ix));
    const kept = matchP(P.indices, H, M);
    const variants = kept ? [{ ...kept, permP: false }] : [];
    const h = order([...H]), m = order([...M]);
    variants.push({ h, kpre: [], m, kpost: K, permP: true });
    for (const v of variants) {
      const k = [...v.kpre, ...v.kpost];
      const qHead = [...v.h, ...k];
      const qKeeps = sameList(Q.indices.slice(0, qHead.length), qHead);
      const n = qKeeps ? Q.indices.slice(qHead.length) : order(N);
      const natural = [...v.h, ...v.m, ...n];
      const permOut = target !== null && !sameList(natural, target);
      if (permOut && accumulate) continue;
      const moved = (v.permP ? size(P.indices) : 0) + (qKeeps ? 0 : size(Q.indices)) + (permOut ? size(natural) : 0);
      choices.push({ P, Q, ...v, n, permQ: !qKeeps, permOut, moved });
    }
  }
  if (choices.length === 0) throw new Error('no contraction layout can accumulate into the target');
  choices.sort((x, y) => x.moved - y.moved);
  return choices[0];
}

/** The layout `ch` permutes operand X into, or null when it reads X as it is. */
function permutedLayout(ch: Choice, X: Operand): string[] | null {
  const k = [...ch.kpre, ...ch.kpost];
  if (ch.P === X && ch.permP) return [...ch.h, ...ch.m, ...k];
  if (ch.Q === X && ch.permQ) return [...ch.h, ...k, ...ch.n];
  return null;
}

/**
 * C (index set `outSet`) = contraction of A and B, written at `dst` in layout `target` (or in
 * whatever layout is cheapest when target is null). Returns C as written. Scratch for permuted
 * operands comes from `scratch` and is released before returning.
 */
export function emitContract(
  ops: Op[], dims: Record<string, number>, A: Operand, B: Operand, outSet: string[], dst: Ref,
  target: string[] | null, scratch: Arena, accumulate = false,
): Operand {
  const size = (ixs: string[]): number => product(ixs.map((ix) => dims[ix]));
  const ch = chooseContract(dims, A, B, outSet, target, accumulate);
  const mark = scratch.mark();
  const k = [...ch.kpre, ...ch.kpost];
  const P = ch.permP ? emitPermute(ops, dims, ch.P, [...ch.h, ...ch.m, ...k], scratch.alloc(size(ch.P.indices))) : ch.P;
  const Q = ch.permQ ? emitPermute(ops, dims, ch.Q, [...ch.h, ...k, ...ch.n], scratch.alloc(size(ch.Q.indices))) : ch.Q;
  const natural = [...ch.h, ...ch.m, ...ch.n];
  const out = ch.permOut ? scratch.alloc(size(natural)) : dst;
  const Hn = size(ch.h), Mn = size(ch.m), Nn = size(ch.n), Tn = size(ch.kpre), Kn = size(ch.kpost);
  ops.push({
    op: 'gemm', c: out, ldc: Nn, a: P.ref, sai: Kn, sak: 1, strideA: Mn * Kn, b: Q.ref, ldb: Nn, strideB: Kn * Nn,
    m: Mn, n: Nn, k: Kn, t: Tn, acc: accumulate, h: Hn, hc: Mn * Nn, ha: Tn * Mn * Kn, hb: Tn * Kn * Nn,
  });
  let result: Operand = { ref: out, indices: natural };
  if (ch.permOut) result = emitPermute(ops, dims, result, target!, dst);
  scratch.release(mark);
  return result;
}

/**
 * The layout to permute a node's gradient into once before both children's gradient
 * contractions read it, or null (each reads it as the cheapest contraction would). Each child's
 * contraction alone may permute the gradient into a layout of its own: the default TTM's rebuild
 * permuted its 400 k-float dW twice a step, once per child, where one permute serves both (the
 * other child then reads its smaller partner permuted instead). Chosen by the floats both
 * contractions move plus the shared permute, the measure emitContract ranks layouts by.
 */
function sharedGradLayout(dims: Record<string, number>, grad: Operand, uses: { other: Operand; set: string[]; target: string[] | null }[]): string[] | null {
  if (uses.length < 2) return null;
  const choose = (g: Operand): Choice[] => uses.map((u) => chooseContract(dims, g, u.other, u.set, u.target, false));
  const moved = (chs: Choice[]): number => chs.reduce((n, ch) => n + ch.moved, 0);
  const own = choose(grad), alone = moved(own);
  let best: { layout: string[]; moved: number } | null = null;
  for (const ch of own) {
    const layout = permutedLayout(ch, grad);
    if (!layout) continue;
    const total = product(grad.indices.map((ix) => dims[ix])) + moved(choose({ ref: grad.ref, indices: layout }));
    if (total < alone && (!best || total < best.moved)) best = { layout, moved: total };
  }
  return best?.layout ?? null;
}

/** A tensor at a tree leaf: where it is, and where its gradient goes (null: none wanted). */
export interface Leaf { indices: string[]; ref: Ref; gradRef: Ref | null }

export interface TreeProgram {
  forward: Op[];
  backward: Op[];
  savedFloats: number;
  /** Gradients of intermediates (stack-allocated) and permute scratch, in floats. */
  gradFloats: number;
  scratchFloats: number;
}

/**
 * Forward and backward programs of one contraction tree. The root is written at root.ref in
 * layout root.indices; backward starts from its gradient at root.gradRef. Intermediates are kept
 * in `saved`, intermediate gradients in `grads` (reused stack-wise), permuted operands in `scratch`.
 */
export function compileTree(
  tree: Tree, leaves: Leaf[], dims: Record<string, number>,
  root: { indices: string[]; ref: Ref; gradRef: Ref | null },
  arenas: { saved: Arena; grads: Arena; scratch: Arena },
): TreeProgram {
  if ('leaf' in tree) throw new Error('compileTree needs at least two tensors (a single leaf has nothing to contract)');
  const forward: Op[] = [], backward: Op[] = [];
  const leafIds = (t: Tree): number[] => ('leaf' in t ? [t.leaf] : [...leafIds(t.left), ...leafIds(t.right)]);
  const resultSet = (t: Tree): string[] => {
    const mine = new Set(leafIds(t));
    const inside = new Set<string>(), outside = new Set<string>(root.indices);
    leaves.forEach((l, i) => l.indices.forEach((ix) => (mine.has(i) ? inside : outside).add(ix)));
    return [...inside].filter((ix) => outside.has(ix));
  };
  const needs = (t: Tree): boolean => ('leaf' in t ? leaves[t.leaf].gradRef !== null : needs(t.left) || needs(t.right));
  const value = new Map<Tree, Operand>();
  const fwd = (t: Tree, isRoot: boolean): Operand => {
    if ('leaf' in t) return { ref: leaves[t.leaf].ref, indices: leaves[t.leaf].indices };
    const A = fwd(t.left, false), B = fwd(t.right, false);
    const set = isRoot ? root.indices : resultSet(t);
    const dst = isRoot ? root.ref : arenas.saved.alloc(product(set.map((ix) => dims[ix])));
    const out = emitContract(forward, dims, A, B, set, dst, isRoot ? root.indices : null, arenas.scratch);
    value.set(t, out);
    return out;
  };
  fwd(tree, true);
  const back = (t: Tree, grad0: Operand): void => {
    if ('leaf' in t) return;
    const mark = arenas.grads.mark();
    const kids: [Tree, Tree][] = [[t.left, t.right], [t.right, t.left]];
    const valueOf = (x: Tree): Operand => ('leaf' in x ? { ref: leaves[x.leaf].ref, indices: leaves[x.leaf].indices } : value.get(x)!);
    const uses = kids.filter(([x]) => needs(x)).map(([x, other]) => ({
      x, other: valueOf(other), set: 'leaf' in x ? leaves[x.leaf].indices : value.get(x)!.indices, target: 'leaf' in x ? leaves[x.leaf].indices : null,
    }));
    // Both children read the gradient: permuted once for both where that moves less (its scratch
    // outlives both contractions).
    const scratchMark = arenas.scratch.mark();
    const shared = sharedGradLayout(dims, grad0, uses);
    const grad = shared ? emitPermute(backward, dims, grad0, shared, arenas.scratch.alloc(product(grad0.indices.map((ix) => dims[ix])))) : grad0;
    const pending: [Tree, Operand][] = [];
    for (const u of uses) {
      if ('leaf' in u.x) {
        emitContract(backward, dims, grad, u.other, u.set, leaves[u.x.leaf].gradRef!, u.target, arenas.scratch);
      } else {
        const dst = arenas.grads.alloc(product(u.set.map((ix) => dims[ix])));
        pending.push([u.x, emitContract(backward, dims, grad, u.other, u.set, dst, null, arenas.scratch)]);
      }
    }
    arenas.scratch.release(scratchMark);
    for (const [x, g] of pending) back(x, g);
    arenas.grads.release(mark);
  };
  if (root.gradRef && needs(tree)) back(tree, { ref: root.gradRef, indices: root.indices });
  return { forward, backward, savedFloats: arenas.saved.high, gradFloats: arenas.grads.high, scratchFloats: arenas.scratch.high };
}

/**
 * Program words for the core: every Ref resolved to a byte address; a null Ref (loss dy) to 0, which
 * is never a plan address (plans start at heapBase). A resolver may return 0 to size a program only.
 */
/** The bits of x rounded to f32, as the i32 word the core reads back with reinterpret. */
const f32Bits = (x: number): number => new Int32Array(Float32Array.of(x).buffer)[0];

export function link(ops: Op[], resolve: (buf: string) => number): Int32Array {
  const words: number[] = [];
  const at = (r: Ref | null): number => {
    if (r === null) return 0;
    const a = resolve(r.buf) + r.off * 4;
    if (!Number.isInteger(a) || a < 0 || a >= 2 ** 32) throw new Error(`address of ${r.buf}+${r.off} is ${a}`);
    return a | 0; // stored as i32, read as u32
  };
  const code = <T extends string>(table: Readonly<Record<T, number>>, fn: T, what: string): number => {
    const c = table[fn];
    if (c === undefined) throw new Error(`${what} function ${showValue(fn)}: must be one of ${Object.keys(table).join(', ')}`);
    return c;
  };
  for (const o of ops) {
    const entry = OP_TABLE[o.op];
    if (!entry) throw new Error(`unknown op ${showValue((o as { op: unknown }).op)}`);
    const len = typeof entry.words === 'number' ? entry.words : (entry.words as (x: unknown) => number)(o);
    const start = words.length;
    words.push(entry.code, len);
    switch (o.op) {
      case 'gemm':
        words.push(at(o.c), o.ldc, at(o.a), o.sai, o.sak, o.strideA, at(o.b), o.ldb, o.strideB,
          o.m, o.n, o.k, o.t, o.acc ? 1 : 0, o.h, o.hc, o.ha, o.hb);
        break;
      case 'gemmI16':
        words.push(at(o.c), o.ldc, at(o.a), o.sai, o.sak, o.strideA, at(o.b), o.ldb, o.strideB,
          o.m, o.n, o.k, o.t, o.acc ? 1 : 0, o.h, o.hc, o.ha, o.hb, o.mode,
          o.mode !== 0 ? at(o.seed) : 0, o.mode !== 0 ? o.stream : 0, o.counts ? at(o.counts) : 0,
          o.mode === 0 && o.bPacked ? at(o.bPacked) : 0);
        for (let w = 25; w < len; w++) words.push(0); // rng state and scratch (not a spread: it can be 10⁶ words)
        break;
      case 'packI16':
        if (o.cols && !(Number.isInteger(o.cols[0]) && Number.isInteger(o.cols[1]) && 0 <= o.cols[0] && o.cols[0] < o.cols[1] && o.cols[1] <= o.n)) {
          throw new Error(`packI16 columns [${o.cols.join(', ')}): must be a range within [0, ${o.n})`);
        }
        words.push(at(o.dst), at(o.b), o.ldb, o.strideB, o.n, o.k, o.t, o.counts ? at(o.counts) : 0, o.cols?.[0] ?? 0, o.cols?.[1] ?? o.n,
          o.sr ? at(o.sr.seed) : 0, o.sr?.stream ?? 0, 0, 0, 0, 0); // then the rng state
        break;
      case 'permute': {
        const r = o.dims.length;
        if (r < 1 || r > 16) throw new Error(`permute of rank ${r}`);
        words.push(at(o.dst), at(o.src), r, ...o.dims, ...o.strides, ...new Array(r).fill(0));
        break;
      }
      case 'zero': words.push(at(o.dst), o.n); break;
      case 'gather': case 'scatter': words.push(at(o.dst), at(o.src), at(o.idx), o.count, o.rowFloats); break;
      case 'add': words.push(at(o.dst), at(o.src), o.n); break;
      case 'bias': words.push(at(o.y), at(o.bias), o.rows, o.cols); break;
      case 'biasGrad': words.push(at(o.dbias), at(o.dy), o.rows, o.cols); break;
      case 'act': words.push(code(ACT_CODE, o.fn, 'act'), at(o.y), at(o.x), o.n); break;
      case 'actGrad': words.push(code(ACT_CODE, o.fn, 'act'), at(o.dx), at(o.dy), at(o.y), o.n); break;
      case 'copy2d': words.push(at(o.dst), o.ldDst, at(o.src), o.ldSrc, o.rows, o.cols, o.acc ? 1 : 0); break;
      case 'scale': words.push(at(o.y), o.n, f32Bits(o.alpha)); break;
      case 'lut': words.push(at(o.dst), at(o.src), o.n, at(o.table)); break;
      case 'affine': words.push(at(o.dst), at(o.src), at(o.mean), at(o.invStd), o.rows, o.cols); break;
      case 'interact': words.push(at(o.z), at(o.t), o.rows, o.k, o.d); break;
      case 'interactGrad': words.push(at(o.dt), at(o.dz), at(o.t), o.rows, o.k, o.d); break;
      case 'loss':
        words.push(code(LOSS_CODE, o.fn, 'loss'), at(o.dy), at(o.y), at(o.target), o.maxRows, o.cols, at(o.meta));
        break;
    }
    if (words.length - start !== len) throw new Error(`op ${o.op}: emitted ${words.length - start} words, the table says ${len}`);
  }
  return Int32Array.from(words);
}
