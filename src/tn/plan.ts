// The contraction planner: for one layer, batch size and its current ranks it lowers every
// feasible path to core programs, counts their flops, moved floats and workspace bytes, prices
// their time with the kernels' cost model (src/tn/cost.ts), and picks the fastest whose workspace
// fits the budget.
//   direct       x is contracted with the factors in the best order (optimalPath), then again with
//                every intermediate kept below the previous tree's largest, until no tree fits, so
//                tighter budgets get leaner trees; nothing of W's size.
//   reconstruct  W is rebuilt from the factors once per step (prep), then y = x·W is one GEMM per
//                lane; backward forms dW = Σ_lanes xᵀ·dy and pushes it back through the
//                reconstruction once (finish). Cheap per sample, costs W-sized buffers.
// A dense layer has one path, the GEMM.
//
// Programs use symbolic buffers, resolved per lane by the runtime: x, y, dx, dy, param:<tensor>,
// grad:<tensor>, and the workspaces listed in `laneBuffers` (one per lane) and `sharedBuffers`.
import type { LayerSpec } from '../spec/formats.js';
import { layerNetwork, BATCH, type Network } from './network.js';
import { optimalPath, type PathTerm, type Tree } from './path.js';
import { Arena, compileTree, emitContract, movedFloats, programFlops, type Leaf, type Op, type Ref } from './compile.js';
import { product } from '../util/math.js';
import { programNs } from './cost.js';

export type PathKind = 'direct' | 'reconstruct';

export interface PlanOptions {
  /** Rows per lane (each lane's programs are compiled for exactly this many rows). */
  laneRows: number;
  lanes: number;
  train: boolean;
  /** The layer's input gradient is wanted (false for the first layer). */
  needInputGrad: boolean;
  /** Workspace the layer may use, bytes, all lanes together (default: unlimited). */
  budgetBytes?: number;
  /** Consider only this kind of path (tests, benchmarks, `--path`); default: both. */
  path?: PathKind;
}

/**
 * A workspace of a path. `life` (shared buffers) says when it holds data: `W` from prep to the
 * last use of W, `recon` from prep to finish (the reconstruction's saved intermediates), `finish`
 * during finish only (gradients of intermediates, partial factor gradients).
 */
export interface BufferSize { name: string; floats: number; life?: 'W' | 'recon' | 'finish' | 'finishSum' }

export interface PathPlan {
  kind: PathKind;
  /** Once per step before the lanes (reconstruct: W from the factors). */
  prep: Op[];
  /** Per lane. */
  forward: Op[];
  backward: Op[];
  /** Once per step after the lanes, on lane 0's dW (reconstruct: factor gradients). */
  finish: Op[];
  /**
   * prep and finish as independent jobs (reconstruct: one per chunk of W's leading rows, so the
   * rebuild and its backward spread over threads), and what adds the chunks' partial factor
   * gradients into the gradients once every finish job is done. prep and finish above are the
   * jobs concatenated (for counting). Each finish job first sums its rows of the lanes' dW.
   */
  prepJobs: Op[][];
  finishJobs: Op[][];
  finishSum: Op[];
  /** Per chunk, its range of W (and dW) in floats: the rows finish job c sums over the lanes. */
  chunkRanges: { off: number; floats: number }[];
  /**
   * The finish jobs read all lanes' x and dy (`x.lanes`, `dy.lanes`: every lane's rows, lane after
   * lane, in one buffer each): each forms its rows of dW = Σ_rows xᵀ·dy itself, one GEMM reducing
   * over lanes × rows, into one shared dW. So x and dy must live until finish, and no lane needs a
   * W-sized dW of its own.
   */
  finishReadsLanes: boolean;
  laneBuffers: BufferSize[];
  sharedBuffers: BufferSize[];
  /** Whole-step counts (all lanes, prep and finish included). */
  forwardFlops: number;
  backwardFlops: number;
  movedFloats: number;
  workspaceBytes: number;
  /** Training (or inference) flops per sample, forward + backward, amortised over the batch. */
  flopsPerSample: number;
  /** What the planner minimises: the step's modelled time in ns, all lanes on one thread (src/tn/cost.ts). */
  cost: number;
  /** Human-readable contraction order. */
  order: string;
}

export interface LayerPlan {
  layer: LayerSpec;
  chosen: PathPlan;
  /** Every path considered, cheapest first, with whether it fits the budget. */
  candidates: (PathPlan & { fits: boolean })[];
  budgetBytes: number;
}

/** The layer's workspace need exceeds its budget on every path. */
export class BudgetError extends Error {
  constructor(message: string) { super(message); this.name = 'BudgetError'; }
}

const F32 = 4;

function describe(tree: Tree, names: string[]): string {
  return 'leaf' in tree ? names[tree.leaf] : `(${describe(tree.left, names)}·${describe(tree.right, names)})`;
}

function finalise(kind: PathKind, q: Omit<PathPlan, 'kind' | 'forwardFlops' | 'backwardFlops' | 'movedFloats' | 'workspaceBytes' | 'flopsPerSample' | 'cost' | 'prep' | 'finish'>, o: PlanOptions): PathPlan {
  const p = { ...q, prep: q.prepJobs.flat(), finish: [...q.finishJobs.flat(), ...q.finishSum] };
  const forwardFlops = programFlops(p.prep) + o.lanes * programFlops(p.forward);
  const backwardFlops = programFlops(p.finish) + o.lanes * programFlops(p.backward);
  const moved = movedFloats(p.prep) + movedFloats(p.finish) + o.lanes * (movedFloats(p.forward) + movedFloats(p.backward));
  const laneFloats = p.laneBuffers.reduce((s, b) => s + b.floats, 0);
  const sharedFloats = p.sharedBuffers.reduce((s, b) => s + b.floats, 0);
  const samples = o.lanes * o.laneRows;
  return {
    kind, ...p, forwardFlops, backwardFlops, movedFloats: moved,
    workspaceBytes: (o.lanes * laneFloats + sharedFloats) * F32,
    flopsPerSample: (forwardFlops + backwardFlops) / samples,
    cost: programNs(p.prep) + programNs(p.finish) + o.lanes * (programNs(p.forward) + programNs(p.backward)),
  };
}

function factorLeaves(layer: LayerSpec, net: Network, train: boolean): Leaf[] {
  return net.factors.map((f) => {
    const tensor = `${layer.name}.${f.name}`;
    return { indices: f.indices, ref: { buf: `param:${tensor}`, off: 0 }, gradRef: train ? { buf: `grad:${tensor}`, off: 0 } : null };
  });
}

function directPaths(layer: LayerSpec, net: Network, o: PlanOptions): PathPlan[] {
  const dims = { ...net.dims, [BATCH]: o.laneRows };
  const xIdx = [BATCH, ...net.inIndices], yIdx = [BATCH, ...net.outIndices];
  const leaves: Leaf[] = [
    ...factorLeaves(layer, net, o.train),
    { indices: xIdx, ref: { buf: 'x', off: 0 }, gradRef: o.train && o.needInputGrad ? { buf: 'dx', off: 0 } : null },
  ];
  const terms: PathTerm[] = leaves.map((l) => ({ indices: l.indices, needsGrad: l.gradRef !== null }));
  const names = [...net.factors.map((f) => f.name), 'x'];
  const seen = new Set<string>();
  const plans: PathPlan[] = [];
  // Each limit just below the last tree's largest intermediate: the same trees as trying every
  // distinct intermediate size as a limit (a tree stays optimal under any limit it fits), with
  // one search per tree instead of one per size. Sizes strictly fall, so this ends.
  for (let limit = Infinity; ;) {
    const path = optimalPath(terms, yIdx, dims, limit);
    if (!path) break;
    const order = describe(path.tree, names);
    if (seen.has(order)) break;
    seen.add(order);
    const arenas = { saved: new Arena('saved'), grads: new Arena('dsaved'), scratch: new Arena('scratch') };
    const prog = compileTree(path.tree, leaves, dims, { indices: yIdx, ref: { buf: 'y', off: 0 }, gradRef: o.train ? { buf: 'dy', off: 0 } : null }, arenas);
    plans.push(finalise('direct', {
      prepJobs: [], forward: prog.forward, backward: prog.backward, finishJobs: [], finishSum: [], chunkRanges: [], finishReadsLanes: false,
      laneBuffers: [{ name: 'saved', floats: prog.savedFloats }, { name: 'dsaved', floats: prog.gradFloats }, { name: 'scratch', floats: prog.scratchFloats }],
      sharedBuffers: [], order,
    }, o));
    if (path.largestFloats === 0) break; // no intermediates (two tensors): nothing to trade
    limit = path.largestFloats - 1;
  }
  return plans;
}

/**
 * Chunks of W's leading rows the rebuild is split into: one per lane (at most the leading mode's
 * size), when that mode is the outermost axis of exactly one factor, so the factor's slice and W's
 * rows are contiguous. Otherwise one chunk. Depends on the lane count only, never on threads.
 */
function reconstructChunks(net: Network, leaves: Leaf[], wIdx: string[], lanes: number): { lead: string; leaf: number; chunks: number } {
  const lead = wIdx[0];
  const holders = leaves.flatMap((l, k) => (l.indices.includes(lead) ? [k] : []));
  const ok = holders.length === 1 && leaves[holders[0]].indices[0] === lead;
  return { lead, leaf: ok ? holders[0] : -1, chunks: ok ? Math.max(1, Math.min(lanes, net.dims[lead])) : 1 };
}

function reconstructPath(layer: LayerSpec, net: Network, o: PlanOptions): PathPlan | null {
  if (net.factors.length < 2) return null;
  const wIdx = [...net.inIndices, ...net.outIndices];
  const leaves = factorLeaves(layer, net, o.train);
  const terms = leaves.map((l) => ({ indices: l.indices, needsGrad: l.gradRef !== null }));
  const path = optimalPath(terms, wIdx, net.dims);
  if (!path) return null;
  const wFloats = product(wIdx.map((ix) => net.dims[ix]));
  const { lead, leaf: sliced, chunks } = reconstructChunks(net, leaves, wIdx, o.lanes);
  const n = net.dims[lead];
  const size = (l: Leaf): number => product(l.indices.map((ix) => net.dims[ix]));
  // Factor gradients every chunk adds to (all but the sliced factor's): chunk 0 writes them, the
  // others write partials that finishSum adds in chunk order.
  const shared = leaves.map((l, k) => k).filter((k) => k !== sliced && leaves[k].gradRef !== null);
  const partOffsets = new Map<number, number>();
  let partFloats = 0;
  for (const k of shared) { partOffsets.set(k, partFloats); partFloats += Math.ceil(size(leaves[k]) / 4) * 4; }
  const prepJobs: Op[][] = [], finishJobs: Op[][] = [], finishSum: Op[] = [];
  const chunkRanges: { off: number; floats: number }[] = [];
  const sharedBuffers: BufferSize[] = [{ name: 'W', floats: wFloats, life: 'W' }];
  // Per lane: y = x·W, and in backward dW = xᵀ·dy, dx = dy·Wᵀ.
  const dims = { ...net.dims, [BATCH]: o.laneRows };
  const xIdx = [BATCH, ...net.inIndices], yIdx = [BATCH, ...net.outIndices];
  const scratch = new Arena('scratch');
  const x = { ref: { buf: 'x', off: 0 }, indices: xIdx }, W = { ref: { buf: 'W', off: 0 }, indices: wIdx };
  const dy = { ref: { buf: 'dy', off: 0 }, indices: yIdx };
  const dwOps: Op[] = [];
  if (o.train) emitContract(dwOps, dims, x, dy, wIdx, { buf: 'dW', off: 0 }, wIdx, scratch);
  // xᵀ·dy is one GEMM whose C rows are W's rows in order and whose reduction runs over the lane's
  // rows one at a time (k = 1, t rows strideA / strideB apart): with every lane's rows stacked in
  // one buffer it reduces over all lanes' rows at once. Then each finish job forms its own rows
  // of dW in one GEMM, and one W-sized dW serves all lanes instead of one per lane summed
  // afterwards (at 4 lanes the default TTM's fc1 kept 4 × 1.6 MB of dW and moved 14 MB a step
  // adding them up); the 128-row reduction is also long enough for int16, where 32 rows are not.
  const g = dwOps.length === 1 && dwOps[0].op === 'gemm' ? dwOps[0] : null;
  const inLanes = g !== null && g.h === 1 && g.k === 1 && g.t === o.laneRows && g.c.off === 0 && g.a.buf === 'x' && g.a.off === 0 && g.sai === 1
    && g.b.buf === 'dy' && g.b.off === 0 && g.ldc === g.n && g.m * g.n === wFloats && !g.acc
    && g.strideA === product(net.inIndices.map((ix) => net.dims[ix])) && g.strideB === product(net.outIndices.map((ix) => net.dims[ix]));
  const laneGemms = (chunk: { off: number; floats: number }): Op[] => {
    if (!inLanes || !g) return [];
    const rowsOf = (floats: number): number => floats / g.ldc;
    return [{ ...g, c: { buf: 'dW', off: chunk.off }, a: { buf: 'x.lanes', off: rowsOf(chunk.off) }, b: { buf: 'dy.lanes', off: 0 }, m: rowsOf(chunk.floats), t: g.t * o.lanes }];
  };
  if (o.train && inLanes) sharedBuffers.push({ name: 'dW', floats: wFloats, life: 'finish' });
  let order = '';
  for (let c = 0; c < chunks; c++) {
    const s0 = Math.floor((c * n) / chunks), s1 = Math.floor(((c + 1) * n) / chunks);
    const chunkDims = chunks > 1 ? { ...net.dims, [lead]: s1 - s0 } : net.dims;
    const at = (ref: Ref, floats: number): Ref => ({ buf: ref.buf, off: ref.off + (s0 * floats) / n });
    const mine = leaves.map((l, k): Leaf => {
      if (chunks === 1) return l;
      if (k === sliced) return { indices: l.indices, ref: at(l.ref, size(l)), gradRef: l.gradRef ? at(l.gradRef, size(l)) : null };
      if (c === 0 || !l.gradRef) return l;
      return { ...l, gradRef: { buf: `dpart${c}`, off: partOffsets.get(k)! } };
    });
    const chunkPath = chunks === 1 ? path : optimalPath(terms, wIdx, chunkDims)!;
    const tag = chunks === 1 ? '' : String(c);
    const recon = { saved: new Arena(`recon${tag}`), grads: new Arena(`dRecon${tag}`), scratch: new Arena(`reconScratch${tag}`) };
    const wRef: Ref = at({ buf: 'W', off: 0 }, wFloats), dwRef: Ref = at({ buf: 'dW', off: 0 }, wFloats);
    const chunk = { off: wRef.off, floats: ((s1 - s0) * wFloats) / n };
    chunkRanges.push(chunk);
    const rebuild = compileTree(chunkPath.tree, mine, chunkDims, { indices: wIdx, ref: wRef, gradRef: o.train ? dwRef : null }, recon);
    prepJobs.push(rebuild.forward);
    if (o.train) finishJobs.push([...laneGemms(chunk), ...rebuild.backward]);
    sharedBuffers.push(
      { name: `recon${tag}`, floats: rebuild.savedFloats, life: 'recon' }, { name: `dRecon${tag}`, floats: rebuild.gradFloats, life: 'finish' },
      { name: `reconScratch${tag}`, floats: rebuild.scratchFloats, life: 'recon' },
    );
    if (o.train && c > 0 && partFloats > 0) {
      sharedBuffers.push({ name: `dpart${c}`, floats: partFloats, life: 'finishSum' });
      for (const k of shared) finishSum.push({ op: 'add', dst: leaves[k].gradRef!, src: { buf: `dpart${c}`, off: partOffsets.get(k)! }, n: size(leaves[k]) });
    }
    if (c === 0) order = `W=${describe(chunkPath.tree, net.factors.map((f) => f.name))}${chunks > 1 ? ` in ${chunks} chunks of ${lead}` : ''}; x·W`;
  }
  const forward: Op[] = [], backward: Op[] = [];
  emitContract(forward, dims, x, W, yIdx, { buf: 'y', off: 0 }, yIdx, scratch);
  if (o.train) {
    if (!inLanes) backward.push(...dwOps);
    if (o.needInputGrad) emitContract(backward, dims, dy, W, xIdx, { buf: 'dx', off: 0 }, xIdx, scratch);
  }
  return finalise('reconstruct', {
    prepJobs, forward, backward, finishJobs, finishSum, chunkRanges, finishReadsLanes: o.train && inLanes,
    laneBuffers: [{ name: 'scratch', floats: scratch.high }, ...(o.train && !inLanes ? [{ name: 'dW', floats: wFloats }] : [])],
    sharedBuffers,
    order,
  }, o);
}

export function planLayer(layer: LayerSpec, o: PlanOptions): LayerPlan {
  const net = layerNetwork(layer);
  const budgetBytes = o.budgetBytes ?? Infinity;
  const all = [...directPaths(layer, net, o), reconstructPath(layer, net, o)]
    .filter((p): p is PathPlan => p !== null && (!o.path || p.kind === o.path || net.factors.length === 1));
  const candidates = all.map((p) => ({ ...p, fits: p.workspaceBytes <= budgetBytes })).sort((a, b) => a.cost - b.cost);
  const chosen = candidates.find((c) => c.fits);
  if (!chosen) {
    const least = Math.min(...candidates.map((c) => c.workspaceBytes));
    throw new BudgetError(`layer ${layer.name} (${layer.format}): every contraction path needs more workspace than the budget of ${budgetBytes} bytes; the leanest needs ${least} bytes at ${o.laneRows} rows per lane. Raise --workspace-mib or lower --batch`);
  }
  return { layer, chosen, candidates, budgetBytes };
}
