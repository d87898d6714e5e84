// The contraction planner: for one layer, batch size and its current ranks it lowers every
// feasible path to core programs, counts their flops, moved floats and workspace bytes, and picks
// the cheapest whose workspace fits the budget.
//   direct       x is contracted with the factors in the best order (optimalPath, one tree per
//                intermediate-size limit, so tighter budgets get leaner trees); nothing of W's size.
//   reconstruct  W is rebuilt from the factors once per step (prep), then y = x·W is one GEMM per
//                lane; backward forms dW = Σ_lanes xᵀ·dy and pushes it back through the
//                reconstruction once (finish). Cheap per sample, costs W-sized buffers.
// A dense layer has one path, the GEMM.
//
// Programs use symbolic buffers, resolved per lane by the runtime: x, y, dx, dy, param:<tensor>,
// grad:<tensor>, and the workspaces listed in `laneBuffers` (one per lane) and `sharedBuffers`.
import type { LayerSpec } from '../spec/formats.js';
import { layerNetwork, BATCH, type Network } from './network.js';
import { optimalPath, candidateLimits, type PathTerm, type Tree } from './path.js';
import { Arena, compileTree, emitContract, movedFloats, programFlops, type Leaf, type Op } from './compile.js';
import { product } from '../util/math.js';

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

export interface BufferSize { name: string; floats: number }

export interface PathPlan {
  kind: PathKind;
  /** Once per step before the lanes (reconstruct: W from the factors). */
  prep: Op[];
  /** Per lane. */
  forward: Op[];
  backward: Op[];
  /** Once per step after the lanes, on lane 0's dW (reconstruct: factor gradients). */
  finish: Op[];
  laneBuffers: BufferSize[];
  sharedBuffers: BufferSize[];
  /** Whole-step counts (all lanes, prep and finish included). */
  forwardFlops: number;
  backwardFlops: number;
  movedFloats: number;
  workspaceBytes: number;
  /** Training (or inference) flops per sample, forward + backward, amortised over the batch. */
  flopsPerSample: number;
  /** What the planner minimises: flops + 2·moved floats per step. */
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

function finalise(kind: PathKind, p: Omit<PathPlan, 'kind' | 'forwardFlops' | 'backwardFlops' | 'movedFloats' | 'workspaceBytes' | 'flopsPerSample' | 'cost'>, o: PlanOptions): PathPlan {
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
    cost: forwardFlops + backwardFlops + 2 * moved,
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
  for (const limit of [Infinity, ...candidateLimits(terms, yIdx, dims).reverse()]) {
    const path = optimalPath(terms, yIdx, dims, limit);
    if (!path) break;
    const order = describe(path.tree, names);
    if (seen.has(order)) continue;
    seen.add(order);
    const arenas = { saved: new Arena('saved'), grads: new Arena('dsaved'), scratch: new Arena('scratch') };
    const prog = compileTree(path.tree, leaves, dims, { indices: yIdx, ref: { buf: 'y', off: 0 }, gradRef: o.train ? { buf: 'dy', off: 0 } : null }, arenas);
    plans.push(finalise('direct', {
      prep: [], forward: prog.forward, backward: prog.backward, finish: [],
      laneBuffers: [{ name: 'saved', floats: prog.savedFloats }, { name: 'dsaved', floats: prog.gradFloats }, { name: 'scratch', floats: prog.scratchFloats }],
      sharedBuffers: [], order,
    }, o));
  }
  return plans;
}

function reconstructPath(layer: LayerSpec, net: Network, o: PlanOptions): PathPlan | null {
  if (net.factors.length < 2) return null;
  const wIdx = [...net.inIndices, ...net.outIndices];
  const leaves = factorLeaves(layer, net, o.train);
  const path = optimalPath(leaves.map((l) => ({ indices: l.indices, needsGrad: l.gradRef !== null })), wIdx, net.dims);
  if (!path) return null;
  const recon = { saved: new Arena('recon'), grads: new Arena('dRecon'), scratch: new Arena('reconScratch') };
  const rebuild = compileTree(path.tree, leaves, net.dims, { indices: wIdx, ref: { buf: 'W', off: 0 }, gradRef: o.train ? { buf: 'dW', off: 0 } : null }, recon);
  // Per lane: y = x·W, and in backward dW_lane = xᵀ·dy, dx = dy·Wᵀ.
  const dims = { ...net.dims, [BATCH]: o.laneRows };
  const xIdx = [BATCH, ...net.inIndices], yIdx = [BATCH, ...net.outIndices];
  const scratch = new Arena('scratch');
  const x = { ref: { buf: 'x', off: 0 }, indices: xIdx }, W = { ref: { buf: 'W', off: 0 }, indices: wIdx };
  const dy = { ref: { buf: 'dy', off: 0 }, indices: yIdx };
  const forward: Op[] = [], backward: Op[] = [];
  emitContract(forward, dims, x, W, yIdx, { buf: 'y', off: 0 }, yIdx, scratch);
  if (o.train) {
    emitContract(backward, dims, x, dy, wIdx, { buf: 'dW', off: 0 }, wIdx, scratch);
    if (o.needInputGrad) emitContract(backward, dims, dy, W, xIdx, { buf: 'dx', off: 0 }, xIdx, scratch);
  }
  const wFloats = product(wIdx.map((ix) => net.dims[ix]));
  return finalise('reconstruct', {
    prep: rebuild.forward, forward, backward, finish: rebuild.backward,
    laneBuffers: [{ name: 'scratch', floats: scratch.high }, ...(o.train ? [{ name: 'dW', floats: wFloats }] : [])],
    sharedBuffers: [
      { name: 'W', floats: wFloats }, { name: 'recon', floats: rebuild.savedFloats },
      { name: 'dRecon', floats: rebuild.gradFloats }, { name: 'reconScratch', floats: rebuild.scratchFloats },
    ],
    order: `W=${describe(path.tree, net.factors.map((f) => f.name))}; x·W`,
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
