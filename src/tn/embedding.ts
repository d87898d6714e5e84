// Tensorized embedding lookup (METHOD.md §1.8): rows of a table E [V × m] stored in a tensor
// format, computed from the factor slices those rows need; the table itself is never built.
//
// The table is a layer's W with inModes = vocabulary modes v_1..v_d (Π v_k ≥ V; rows ≥ V are
// never indexed) and outModes = embedding modes (Π = m), so every format's network comes from
// layerNetwork. Row id has digits t_k over the vocabulary modes (row-major mixed radix). A lookup:
//   host     dedup the batch ids (first-occurrence order) into `unique` and `inverse`; per unique
//            id, the digits; per gathered factor, the row of its slice (all f64 arithmetic)
//   forward  per factor carrying vocabulary indices: permute it to [vocab…, rest] in `perm`
//            (skipped when already so), gather the slices of the unique ids into `gathered`
//            as [u, rest…]; contract the network with `u` a batch index of every gathered
//            tensor (optimalPath + compileTree) into rows [u, out…]; gather `out` [b, out…]
//            from rows by `inverse`
//   backward zero drows; scatter-add dout into drows by `inverse` (sums duplicates); the tree's
//            backward gives dgathered and, directly, the gradients of the factors without
//            vocabulary indices; per gathered factor: zero, scatter-add dgathered by its row
//            indices, permute back into the factor's layout. Every gradient is overwritten,
//            except with `rowSparse` for a dense table (one factor): its gradient is written only
//            at the batch's rows and must be zero elsewhere on entry (the runtime zeroes the rows
//            after its lazy Adam step, src/runtime/sparse-rows.ts), so a step costs the batch's
//            rows, not the table's.
// Programs are static for `maxBatch`: `u` and `b` have maxBatch slots. Unused unique slots get
// digit 0 (a valid, finite slice) and no batch position refers to them; unused batch positions
// refer to slot 0 and their dout rows are zeroed by the host, so padding adds exact zeros.
//
// An EmbeddingRunner (a lookup on its own, for tests) has hw-sim's planner place its buffers.
import type { LayerSpec } from '../spec/formats.js';
import type { Core } from '../core/wasm.js';
import { layerNetwork } from './network.js';
import { optimalPath, type Tree } from './path.js';
import { Arena, compileTree, emitPermute, link, movedFloats, programFlops, type Leaf, type Op, type Ref } from './compile.js';
import { product } from '../util/math.js';
import { planMemory, type BufferKind as PlanKind } from '../../hw-sim/plan/planner.js';

/** The unique-row batch index shared by every gathered slice. */
export const UNIQUE = 'u';

export interface GatheredFactor {
  /** Tensor name (`<layer>.<factor>`), as in layerTensors. */
  tensor: string;
  /** Positions k (into the layer's inModes) of the vocabulary modes this factor carries, outermost first. */
  modes: number[];
  /** Floats of one gathered slice (the factor's size over its vocabulary modes' sizes). */
  rowFloats: number;
  /** The i32 buffer of its slice rows, one per unique slot. */
  idx: string;
}

export type BufferKind = 'param' | 'grad' | 'index' | 'io' | 'workspace';
export interface EmbeddingBuffer { name: string; floats: number; kind: BufferKind }

export interface EmbeddingPlan {
  layer: LayerSpec;
  vocab: number;
  maxBatch: number;
  /** Floats per embedding row (m). */
  rowFloats: number;
  /** Vocabulary mode sizes (the layer's inModes). */
  vocabModes: number[];
  gathered: GatheredFactor[];
  /** Every factor tensor, storage order. */
  tensors: { name: string; shape: number[] }[];
  forward: Op[];
  /** Empty when planned for inference. */
  backward: Op[];
  buffers: EmbeddingBuffer[];
  /** GEMM flops per unique row slot (programs are compiled for maxBatch slots). */
  flopsPerRow: number;
  backwardFlopsPerRow: number;
  /** Floats moved without arithmetic per step (permutes, gathers, scatters). */
  movedFloats: number;
  /** Contraction order of the gathered network. */
  order: string;
  /** With `rowSparse`, the dense table whose gradient backward writes only at the looked-up rows; else null. */
  rowSparse: string | null;
}

const describe = (tree: Tree, names: string[]): string =>
  ('leaf' in tree ? names[tree.leaf] : `(${describe(tree.left, names)}·${describe(tree.right, names)})`);

/**
 * Programs looking up at most `maxBatch` ids of a `vocab`-row table stored as `layer` (inModes:
 * vocabulary modes, outModes: embedding modes). `train: false` plans the forward only;
 * `rowSparse` leaves a dense table's gradient untouched outside the batch's rows (see the header).
 */
export function planEmbedding(layer: LayerSpec, vocab: number, maxBatch: number, options: { train?: boolean; rowSparse?: boolean } = {}): EmbeddingPlan {
  const train = options.train ?? true;
  const vocabModes = layer.inModes ?? [layer.inFeatures];
  const rows = product(vocabModes);
  if (!Number.isInteger(vocab) || vocab < 1 || vocab > rows) {
    throw new RangeError(`embedding ${layer.name}: vocab = ${vocab} must be an integer in 1..${rows} (the product of its vocabulary modes [${vocabModes}])`);
  }
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 2 ** 24) {
    throw new RangeError(`embedding ${layer.name}: maxBatch = ${maxBatch} must be an integer in 1..${2 ** 24}`);
  }
  const net = layerNetwork(layer);
  const dims: Record<string, number> = { ...net.dims, [UNIQUE]: maxBatch };
  const vocabIx = new Set(net.inIndices);
  const m = product(layer.outModes ?? [layer.outFeatures]);
  const rowsIdx = [UNIQUE, ...net.outIndices];
  const tensor = (name: string): string => `${layer.name}.${name}`;
  const sizeOf = (ixs: string[]): number => product(ixs.map((ix) => dims[ix]));
  const ref = (buf: string, off = 0): Ref => ({ buf, off });

  const forward: Op[] = [], backward: Op[] = [];
  const gatheredArena = new Arena('gathered'), dgatheredArena = new Arena('dgathered'), perm = new Arena('perm');
  const gathered: GatheredFactor[] = [];
  const leaves: Leaf[] = [];
  // Per gathered factor, what backward needs to bring its slice gradients home.
  const homes: { g: GatheredFactor; layout: string[]; indices: string[]; dslice: Ref; permuted: boolean }[] = [];
  const gathers: Extract<Op, { op: 'gather' | 'scatter' }>[] = [];
  for (const f of net.factors) {
    const param = ref(`param:${tensor(f.name)}`), grad = ref(`grad:${tensor(f.name)}`);
    const vocabHere = f.indices.filter((ix) => vocabIx.has(ix));
    if (vocabHere.length === 0) {
      leaves.push({ indices: f.indices, ref: param, gradRef: train ? grad : null });
      continue;
    }
    const rest = f.indices.filter((ix) => !vocabIx.has(ix));
    const layout = [...vocabHere, ...rest];
    const permuted = !layout.every((ix, i) => ix === f.indices[i]);
    const g: GatheredFactor = {
      tensor: tensor(f.name), modes: vocabHere.map((ix) => net.inModeOf[ix]),
      rowFloats: sizeOf(rest), idx: `idx:${tensor(f.name)}`,
    };
    gathered.push(g);
    const slices = gatheredArena.alloc(maxBatch * g.rowFloats);
    const dslice = dgatheredArena.alloc(maxBatch * g.rowFloats);
    const mark = perm.mark();
    const src = permuted ? emitPermute(forward, dims, { ref: param, indices: f.indices }, layout, perm.alloc(sizeOf(layout))).ref : param;
    const gather: Extract<Op, { op: 'gather' | 'scatter' }> = { op: 'gather', dst: slices, src, idx: ref(g.idx), count: maxBatch, rowFloats: g.rowFloats };
    forward.push(gather);
    gathers.push(gather);
    perm.release(mark);
    leaves.push({ indices: [UNIQUE, ...rest], ref: slices, gradRef: train ? dslice : null });
    homes.push({ g, layout, indices: f.indices, dslice, permuted });
  }
  if (gathered.length === 0) {
    throw new RangeError(`embedding ${layer.name}: vocabulary modes [${vocabModes}] have no mode of size > 1; nothing to look up`);
  }

  // rows [u, out…] from the gathered slices and the embedding-side factors.
  const terms = leaves.map((l) => ({ indices: l.indices, needsGrad: l.gradRef !== null }));
  const names = net.factors.map((f) => f.name);
  const path = optimalPath(terms, rowsIdx, dims);
  if (!path) throw new Error(`embedding ${layer.name}: no contraction path`);
  const arenas = { saved: new Arena('saved'), grads: new Arena('dsaved'), scratch: new Arena('scratch') };
  let tree: ReturnType<typeof compileTree>;
  const rowSparse = train && (options.rowSparse ?? false) && leaves.length === 1 && !homes[0].permuted ? homes[0].g.tensor : null;
  if (leaves.length === 1) {
    // One factor (dense): the gathered slices are the rows.
    const only = leaves[0];
    if (only.indices.join() !== rowsIdx.join()) throw new Error(`embedding ${layer.name}: single factor [${only.indices}] is not [${rowsIdx}]`);
    gathers[0].dst = ref('rows');
    homes[0].dslice = ref('drows');
    tree = { forward: [], backward: [], savedFloats: 0, gradFloats: 0, scratchFloats: 0 };
  } else {
    tree = compileTree(path.tree, leaves, dims, { indices: rowsIdx, ref: ref('rows'), gradRef: train ? ref('drows') : null }, arenas);
  }
  forward.push(...tree.forward);
  forward.push({ op: 'gather', dst: ref('out'), src: ref('rows'), idx: ref('inverse'), count: maxBatch, rowFloats: m });

  if (train) {
    backward.push({ op: 'zero', dst: ref('drows'), n: maxBatch * m });
    backward.push({ op: 'scatter', dst: ref('drows'), src: ref('dout'), idx: ref('inverse'), count: maxBatch, rowFloats: m });
    backward.push(...tree.backward);
    for (const h of homes) {
      const grad = ref(`grad:${h.g.tensor}`);
      const mark = perm.mark();
      const dperm = h.permuted ? perm.alloc(sizeOf(h.layout)) : grad;
      if (rowSparse !== h.g.tensor) backward.push({ op: 'zero', dst: dperm, n: sizeOf(h.layout) });
      backward.push({ op: 'scatter', dst: dperm, src: h.dslice, idx: ref(h.g.idx), count: maxBatch, rowFloats: h.g.rowFloats });
      if (h.permuted) emitPermute(backward, dims, { ref: dperm, indices: h.layout }, h.indices, grad);
      perm.release(mark);
    }
  }

  const tensors = net.factors.map((f) => ({ name: tensor(f.name), shape: f.shape }));
  const buffers: EmbeddingBuffer[] = [
    ...tensors.map((t) => ({ name: `param:${t.name}`, floats: product(t.shape), kind: 'param' as const })),
    ...(train ? tensors.map((t) => ({ name: `grad:${t.name}`, floats: product(t.shape), kind: 'grad' as const })) : []),
    ...gathered.map((g) => ({ name: g.idx, floats: maxBatch, kind: 'index' as const })),
    { name: 'inverse', floats: maxBatch, kind: 'index' },
    { name: 'out', floats: maxBatch * m, kind: 'io' },
    ...(train ? [{ name: 'dout', floats: maxBatch * m, kind: 'io' as const }] : []),
    { name: 'rows', floats: maxBatch * m, kind: 'workspace' },
    ...(train ? [{ name: 'drows', floats: maxBatch * m, kind: 'workspace' as const }] : []),
    { name: 'gathered', floats: gatheredArena.high, kind: 'workspace' },
    ...(train ? [{ name: 'dgathered', floats: dgatheredArena.high, kind: 'workspace' as const }] : []),
    { name: 'perm', floats: perm.high, kind: 'workspace' },
    { name: 'saved', floats: tree.savedFloats, kind: 'workspace' },
    { name: 'dsaved', floats: tree.gradFloats, kind: 'workspace' },
    { name: 'scratch', floats: tree.scratchFloats, kind: 'workspace' },
  ];
  return {
    layer, vocab, maxBatch, rowFloats: m, vocabModes, gathered, tensors, forward, backward, buffers,
    flopsPerRow: programFlops(forward) / maxBatch,
    backwardFlopsPerRow: programFlops(backward) / maxBatch,
    movedFloats: movedFloats(forward) + movedFloats(backward),
    order: leaves.length === 1 ? names[0] : describe(path.tree, names),
    rowSparse,
  };
}

export interface PreparedIndices {
  /** Ids in the batch. */
  batch: number;
  /** Distinct ids, first-occurrence order. */
  unique: number[];
  /** [maxBatch]: unique slot of each batch position; positions ≥ batch point at slot 0. */
  inverse: Int32Array;
  /** Per gathered factor (plan order), [maxBatch]: the slice row of each unique slot; 0 for unused slots. */
  rows: Int32Array[];
}

/** Digits t_1..t_d of `id` over `modes` (row-major mixed radix), exact in f64 for id < 2^53. */
export function digitsOf(id: number, modes: number[]): number[] {
  const t = new Array<number>(modes.length);
  let rest = id;
  for (let k = modes.length - 1; k >= 0; k--) {
    t[k] = rest % modes[k];
    rest = (rest - t[k]) / modes[k];
  }
  return t;
}

/**
 * Dedups and validates a batch of row ids and computes the i32 arrays the plan's programs read.
 * Throws a RangeError naming the first bad id (not an integer in [0, vocab)) and its position.
 */
export function prepareIndices(plan: EmbeddingPlan, ids: ArrayLike<number>): PreparedIndices {
  const { maxBatch, vocab } = plan;
  if (ids.length > maxBatch) {
    throw new RangeError(`embedding ${plan.layer.name}: ${ids.length} ids exceed the planned maxBatch of ${maxBatch}; plan for a larger batch`);
  }
  const slot = new Map<number, number>();
  const unique: number[] = [];
  const inverse = new Int32Array(maxBatch);
  for (let b = 0; b < ids.length; b++) {
    const id = ids[b];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new RangeError(`embedding ${plan.layer.name}: id ${String(id)} at position ${b} is not an integer in [0, ${vocab})`);
    }
    let s = slot.get(id);
    if (s === undefined) { s = unique.length; slot.set(id, s); unique.push(id); }
    inverse[b] = s;
  }
  const rows = plan.gathered.map(() => new Int32Array(maxBatch));
  unique.forEach((id, s) => {
    const t = digitsOf(id, plan.vocabModes);
    plan.gathered.forEach((g, j) => {
      let r = 0;
      for (const k of g.modes) r = r * plan.vocabModes[k] + t[k];
      rows[j][s] = r;
    });
  });
  return { batch: ids.length, unique, inverse, rows };
}

const PLAN_KIND: Record<BufferKind, PlanKind> = { param: 'params', grad: 'grads', index: 'batch', io: 'activations', workspace: 'workspace' };

/**
 * A planned embedding on its own in a core's linear memory (tests and tools; models run it as a
 * layer of the graph, src/layers/embedding.ts): factors, gradients, index arrays, workspaces and
 * the linked programs, placed by hw-sim's planner from `base`. Grows the memory as needed.
 */
export class EmbeddingRunner {
  readonly addr = new Map<string, number>();
  /** First byte after everything this runner placed. */
  readonly end: number;
  private readonly fwd: { at: number; words: number };
  private readonly bwd: { at: number; words: number };
  private last: PreparedIndices | null = null;

  constructor(readonly core: Core, readonly plan: EmbeddingPlan, base = core.exports.heapBase()) {
    const wordsOf = (ops: Op[]): number => link(ops, () => 0).length;
    const requests = [
      ...plan.buffers.map((b) => ({ name: b.name, bytes: 4 * b.floats, kind: PLAN_KIND[b.kind] })),
      { name: 'program:forward', bytes: 4 * wordsOf(plan.forward), kind: 'meta' as const },
      { name: 'program:backward', bytes: 4 * wordsOf(plan.backward), kind: 'meta' as const },
    ];
    const placed = planMemory(requests, base);
    for (const b of placed.buffers) this.addr.set(b.name, b.offset);
    const resolve = (buf: string): number => {
      const a = this.addr.get(buf);
      if (a === undefined) throw new Error(`embedding ${plan.layer.name}: program refers to unplaced buffer ${buf}`);
      return a;
    };
    const fwdWords = link(plan.forward, resolve), bwdWords = link(plan.backward, resolve);
    this.fwd = { at: resolve('program:forward'), words: fwdWords.length };
    this.bwd = { at: resolve('program:backward'), words: bwdWords.length };
    this.end = placed.endBytes;
    const mem = core.memory, pages = Math.ceil(this.end / 65536), have = mem.buffer.byteLength / 65536;
    if (pages > have) mem.grow(pages - have);
    new Int32Array(mem.buffer, this.fwd.at, fwdWords.length).set(fwdWords);
    new Int32Array(mem.buffer, this.bwd.at, bwdWords.length).set(bwdWords);
  }

  /** Float view of a buffer (views are rebuilt on every use: memory.grow detaches old ones). */
  f32(buf: string, floats?: number): Float32Array {
    const b = this.plan.buffers.find((x) => x.name === buf);
    if (!b) throw new Error(`embedding ${this.plan.layer.name}: no buffer ${buf}`);
    return new Float32Array(this.core.memory.buffer, this.addr.get(buf)!, floats ?? b.floats);
  }

  /** A factor (`<layer>.<factor>`), to fill or read. */
  tensor(name: string): Float32Array { return this.f32(`param:${name}`); }
  gradient(name: string): Float32Array { return this.f32(`grad:${name}`); }

  /** Rows of `ids` as a new [ids.length × m] array. */
  lookup(ids: ArrayLike<number>): Float32Array {
    const p = prepareIndices(this.plan, ids);
    const buf = this.core.memory.buffer;
    new Int32Array(buf, this.addr.get('inverse')!, this.plan.maxBatch).set(p.inverse);
    this.plan.gathered.forEach((g, j) => new Int32Array(buf, this.addr.get(g.idx)!, this.plan.maxBatch).set(p.rows[j]));
    this.core.exports.tnRun(this.fwd.at, this.fwd.words);
    this.last = p;
    return this.f32('out', p.batch * this.plan.rowFloats).slice();
  }

  /** Writes every factor's gradient for dL/dout = `dOut` [batch × m] of the last lookup. */
  backward(dOut: ArrayLike<number>): void {
    if (this.plan.backward.length === 0) throw new Error(`embedding ${this.plan.layer.name}: planned for inference; plan with train: true`);
    if (!this.last) throw new Error(`embedding ${this.plan.layer.name}: backward before any lookup`);
    const n = this.last.batch * this.plan.rowFloats;
    if (dOut.length !== n) throw new RangeError(`embedding ${this.plan.layer.name}: dOut has ${dOut.length} floats, the last lookup produced ${n} (${this.last.batch} × ${this.plan.rowFloats})`);
    const d = this.f32('dout');
    d.set(dOut);
    d.fill(0, n);
    this.core.exports.tnRun(this.bwd.at, this.bwd.words);
  }

  /** Unique ids of the last lookup (first-occurrence order). */
  get lastUnique(): number[] { return this.last ? this.last.unique : []; }
}
