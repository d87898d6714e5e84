// Physical rank pruning (METHOD.md §4, "physical truncation"): dead rank slices are cut out of
// every tensor that has the rank's axis (factors, optimizer state, posterior scales), the spec's
// ranks shrink, and the caller rebuilds the Runtime, whose memory plan and contraction plans are
// then derived from the smaller spec. Nothing is masked: the model really shrinks.
import { tensorLayers, type ModelSpec } from '../spec/types.js';
import { layerNetwork } from '../tn/network.js';
import { layerTensors } from '../model/layers.js';
import { aliveSlices, type RankThreshold } from '../bayes/prior.js';
import type { Ard } from './ard.js';
import { formatOf } from '../formats/index.js';
import { governedTensors } from '../bayes/groups.js';
import type { Runtime } from '../runtime/runtime.js';

/** Kept slice indices (ascending) per rank index, per layer: layer → index → kept. */
export type Kept = Map<string, Map<string, number[]>>;

export interface PruneDecision { kept: Kept; changed: boolean; spec: ModelSpec }

/** Which slices stay (the read-off rule of prior.ts, never below one per bond) and the smaller spec. */
export function decidePrune(spec: ModelSpec, ard: Ard, threshold: RankThreshold): PruneDecision {
  const kept: Kept = new Map();
  let changed = false;
  ard.groups.forEach((g, i) => {
    const alive = aliveSlices(ard.rankVar[i], threshold);
    if (alive.length < g.size) changed = true;
    if (!kept.has(g.layer)) kept.set(g.layer, new Map());
    kept.get(g.layer)!.set(g.index, alive);
  });
  return { kept, changed, spec: changed ? respec(spec, kept) : spec };
}

/** The spec with each pruned rank index's size set to its kept count. */
export function respec(spec: ModelSpec, kept: Kept): ModelSpec {
  return {
    ...spec,
    layers: spec.layers.map((layer) => {
      const k = kept.get(layer.name);
      if (!k || !('ranks' in layer) || !layer.ranks) return layer;
      const counts = new Map([...k].map(([index, alive]) => [index, alive.length]));
      return { ...layer, ranks: formatOf(layer.format).respecRanks(layer.ranks, counts) };
    }),
  };
}

/**
 * The sub-tensor keeping, on every axis named in `keep`, only the listed positions. Copies whole
 * runs: the trailing axes kept whole are one contiguous run per position of the axes before them
 * (a tensor with no axis cut is one copy), so a 10⁷-row table is not copied a float at a time.
 */
export function sliceTensor(data: ArrayLike<number>, shape: number[], axes: string[], keep: Map<string, number[]>): Float32Array {
  const picks = shape.map((n, j) => keep.get(axes[j]) ?? null);
  const whole = (j: number): boolean => picks[j] === null || (picks[j]!.length === shape[j] && picks[j]!.every((p, i) => p === i));
  let inner = shape.length;
  while (inner > 0 && whole(inner - 1)) inner--;
  const run = shape.slice(inner).reduce((p, x) => p * x, 1);
  const outer = shape.slice(0, inner).map((n, j) => picks[j] ?? Array.from({ length: n }, (_, i) => i));
  const strides = shape.map((_, j) => shape.slice(j + 1).reduce((p, x) => p * x, 1));
  const out = new Float32Array(outer.reduce((p, x) => p * x.length, 1) * run);
  if (out.length === 0) return out;
  const src = data instanceof Float32Array ? data : Float32Array.from(data);
  const idx = new Array(inner).fill(0);
  for (let o = 0; o < out.length; o += run) {
    let at = 0;
    for (let j = 0; j < inner; j++) at += outer[j][idx[j]] * strides[j];
    out.set(src.subarray(at, at + run), o);
    for (let j = inner - 1; j >= 0; j--) { if (++idx[j] < outer[j].length) break; idx[j] = 0; }
  }
  return out;
}

/** Buffers in the params layout whose per-tensor contents survive pruning. */
const CARRIED = ['params', 'adam.m', 'adam.v', 'rho', 'adam.rho.m', 'adam.rho.v'];
/** Of those, the ones only governed tensors use (the rest of their layout stays zero: not copied). */
export const GOVERNED_ONLY: ReadonlySet<string> = new Set(['rho', 'adam.rho.m', 'adam.rho.v']);

export interface Snapshot { tensors: Map<string, Map<string, Float32Array>>; rng: Uint8Array; order: Int32Array | null; adamSteps: number }

/** A tensor a snapshot carries: its layer, and its factor (null: a bias, copied whole). */
interface Carried { name: string; layer: string; factor: { shape: number[]; axes: string[] } | null }

/** The tensors a snapshot of `rt` holds, buffer by buffer, in order. */
function carriedTensors(rt: Runtime): Map<string, Carried[]> {
  const out = new Map<string, Carried[]>();
  const governed = governedTensors(rt.spec);
  for (const buffer of CARRIED.filter((b) => rt.hasBuffer(b))) {
    const list: Carried[] = [];
    for (const layer of tensorLayers(rt.spec)) {
      for (const f of layerNetwork(layer).factors) {
        const name = `${layer.name}.${f.name}`;
        if (!(GOVERNED_ONLY.has(buffer) && !governed.has(name))) list.push({ name, layer: layer.name, factor: f });
      }
      for (const t of layerTensors(layer)) if (t.role === 'bias' && !GOVERNED_ONLY.has(buffer)) list.push({ name: t.name, layer: layer.name, factor: null });
    }
    out.set(buffer, list);
  }
  return out;
}

/** Everything the next runtime needs, sliced to the kept ranks, copied out of `rt` (before it is dropped). */
export function snapshot(rt: Runtime, kept: Kept): Snapshot {
  const tensors = new Map<string, Map<string, Float32Array>>();
  for (const [buffer, list] of carriedTensors(rt)) {
    const m = new Map<string, Float32Array>();
    for (const x of list) {
      const v = rt.slotView(buffer, x.name);
      m.set(x.name, x.factor ? sliceTensor(v, x.factor.shape, x.factor.axes, kept.get(x.layer) ?? new Map<string, number[]>()) : v.slice());
    }
    tensors.set(buffer, m);
  }
  const order = rt.hasBuffer('order') ? rt.i32(rt.bufferAddr('order'), rt.plan.buffers.find((b) => b.name === 'order')!.bytes / 4).slice() : null;
  return { tensors, rng: rt.u8(rt.bufferAddr('rng'), 16).slice(), order, adamSteps: rt.adamSteps };
}

/**
 * Copies `rt`'s state into `s`, a full-rank snapshot holding exactly the tensors a snapshot of
 * `rt` would, in place; false (s untouched) when the buffers, tensors or shapes differ (a good
 * state read from a checkpoint may hold fewer buffers: it is replaced then, not kept partial).
 * The trainer keeps a good state every 50 steps: new arrays each time outlived the young
 * generation, and their freed memory piled up in malloc until a full GC (+13 MB of peak RSS
 * over two SVI epochs).
 */
export function snapshotInto(rt: Runtime, s: Snapshot): boolean {
  const want = carriedTensors(rt);
  if (want.size !== s.tensors.size) return false;
  const views: [Float32Array, Float32Array][] = [];
  for (const [buffer, list] of want) {
    const m = s.tensors.get(buffer);
    if (!m || m.size !== list.length) return false;
    for (const { name } of list) {
      const data = m.get(name);
      if (!data) return false;
      const v = rt.slotView(buffer, name);
      if (v.length !== data.length) return false;
      views.push([data, v]);
    }
  }
  const orderBytes = rt.hasBuffer('order') ? rt.plan.buffers.find((b) => b.name === 'order')!.bytes : 0;
  if ((s.order?.length ?? 0) * 4 !== orderBytes) return false;
  for (const [data, v] of views) data.set(v);
  s.rng.set(rt.u8(rt.bufferAddr('rng'), 16));
  if (s.order) s.order.set(rt.i32(rt.bufferAddr('order'), s.order.length));
  s.adamSteps = rt.adamSteps;
  return true;
}

export function restore(rt: Runtime, s: Snapshot): void {
  for (const [buffer, m] of s.tensors) {
    if (!rt.hasBuffer(buffer)) continue;
    for (const [name, data] of m) rt.slotView(buffer, name).set(data);
  }
  rt.u8(rt.bufferAddr('rng'), 16).set(s.rng);
  if (s.order && rt.hasBuffer('order')) rt.i32(rt.bufferAddr('order'), s.order.length).set(s.order);
  rt.adamSteps = s.adamSteps;
}

/** rankVar of the kept slices, group by group. */
export function sliceRankVar(ard: Ard, kept: Kept): Float64Array[] {
  return ard.groups.map((g, i) => {
    const keep = kept.get(g.layer)?.get(g.index);
    return keep ? Float64Array.from(keep.map((r) => ard.rankVar[i][r])) : Float64Array.from(ard.rankVar[i]);
  });
}
