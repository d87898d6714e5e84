// prepare: spec + batch + lanes + budgets → the step's programs, its timed buffer declarations and
// its job lists. Pure (no core, no memory): the runtime allocates and links exactly this, and
// hw-sim's simulator plans exactly this, so a simulated plan is the one `btnn train` allocates.
//
// A minibatch is split into `lanes` row ranges; lane l has its own activations, workspaces, batch
// buffers and (after lane 0) gradient buffer, so lanes can run on different threads over one
// memory. Parameters and optimiser state are shared. Every lane always runs its laneRows rows: a
// short minibatch pads with zero rows whose loss gradients are zero (the loss op reads the real
// row count from the lane's meta cell), so padding adds exact zeros and the programs never change.
import type { ModelSpec, TensorLayerSpec, LayerSpec } from '../spec/types.js';
import { isGlobalNorm, isTensorLayer, tensorLayers } from '../spec/types.js';
import { buildGraph, targetWidth, type Graph } from '../spec/graph.js';
import { layerTensors, lrScale } from '../model/layers.js';
import { rankGroups, governedTensors } from '../bayes/groups.js';
import { planLayer, type LayerPlan, type PathKind } from '../tn/plan.js';
import { link, type Op, type Ref } from '../tn/compile.js';
import { packedI16Bytes } from '../tn/opcodes.js';
import { opNs } from '../tn/cost.js';
import { product } from '../util/math.js';
import type { BufferKind } from '../../hw-sim/plan/planner.js';
import type { TimedRequest } from '../../hw-sim/plan/greedy-planner.js';
import { stepSchedule, type BufferDecl, type LayerProgram, type Schedule } from '../layers/types.js';
import { ref, type GradTarget, type LowerContext } from '../layers/context.js';
import { lowerLinear } from '../layers/linear.js';
import { lowerActivation } from '../layers/activation.js';
import { lowerConcat } from '../layers/concat.js';
import { lowerInteraction } from '../layers/interaction.js';
import { lowerEmbedding, type EmbeddingIndex } from '../layers/embedding.js';

export type RunMode = 'train' | 'infer';

const F32 = 4;

/** Where each trainable tensor sits inside the params (and grads) buffer, in floats. */
export interface TensorSlot { name: string; layer: string; shape: number[]; offsetFloats: number; floats: number; lrScale: number }

export function tensorSlots(spec: ModelSpec, lrScales?: Record<string, number>): TensorSlot[] {
  const slots: TensorSlot[] = [];
  let offset = 0;
  for (const layer of tensorLayers(spec)) {
    for (const t of layerTensors(layer)) {
      const floats = product(t.shape);
      slots.push({ name: t.name, layer: layer.name, shape: t.shape, offsetFloats: offset, floats, lrScale: lrScales?.[t.name] ?? lrScale(layer, t.role) });
      offset += Math.ceil(floats / 4) * 4; // each tensor starts 16-byte aligned, as the SIMD kernels expect
    }
  }
  return slots;
}

/** Rows a lane can hold: ceil(batch / lanes). */
export function laneBatch(batch: number, lanes: number): number { return Math.ceil(batch / lanes); }

/** Rows of each lane for a (possibly short, final) minibatch: full lanes of ceil(rows/lanes) first. */
export function laneRows(rows: number, lanes: number): number[] {
  const per = Math.ceil(rows / lanes);
  return Array.from({ length: lanes }, (_, l) => Math.max(0, Math.min(per, rows - l * per)));
}

export interface PrepareOptions {
  batch: number;
  mode: RunMode;
  /** Batch lanes (row ranges with their own buffers); the same lane count gives the same bits on any thread count. */
  lanes?: number;
  /** Training-set size, for the shuffle order buffer (train only; 0: none). */
  datasetCount?: number;
  /** Contraction workspace each linear layer may use, bytes (all lanes; one number, or one per linear layer, in order). */
  budgetBytes?: number | number[];
  /** Force one kind of contraction path for every layer (default: the planner's choice). */
  path?: PathKind;
  /** Step-size multipliers by tensor (pruning keeps the ones training started with). */
  lrScales?: Record<string, number>;
  /**
   * Arithmetic of the contraction GEMMs of a training step (forward, backward, the W rebuilt by
   * reconstruct paths): f32 (default), or int16 (every gemm op becomes gemmI16: operands at a
   * power-of-two scale from their largest |x|, int32 sums, f32 results; assembly/lowp.ts; the
   * forward GEMMs round to nearest-even; in a lane's backward GEMMs the operands that may carry a
   * gradient round stochastically, seeded per step). What
   * stays f32, and why: the master weights, Adam and the ARD updates (small, and the rank decision
   * must not see rounding), losses, activations, permutes, gathers. Inference plans stay f32.
   */
  precision?: Precision;
}

export type Precision = 'f32' | 'int16';
/**
 * int16 training's counters: per program 16 bytes, u32 values quantised, u32 nonzero values
 * rounded to 0, u32 GEMM heads with a NaN or ±∞ operand (assembly/lowp.ts addCounts).
 */
export const INT16_COUNTS = 'int16.counts';

/** Byte offset in a lane's meta cell of the u64 the host writes before each step: the stochastic-rounding seed. */
export const STEP_SEED_OFFSET = 24;

/** A core program: ops over buffer keys, stored in its own meta buffer. */
export interface ProgramDecl { key: string; ops: Op[]; words: number }

/**
 * The programs of one step, grouped in the phases the runtime runs in this order; the jobs of
 * one phase touch disjoint memory, so any thread may run any of them (bits do not change).
 *   prep    per reconstructed layer, one job per chunk of W's leading rows (rebuilt once per step)
 *   pack    int16: per shared forward B (a W), PACK_I16 jobs packing it once for all lanes
 *           (a wide B in PACK_JOBS column ranges)
 *   lanes   one job per lane: forward, loss, backward (eval runs the first evalWords words)
 *   gradPack int16: per gradient B several finish GEMMs read (all lanes' dy), PACK_I16 jobs
 *           packing it once, stochastically (a wide one in PACK_JOBS column ranges)
 *   reduce  lane gradients summed into lane 0's in lane order, split into `lanes` chunks
 *   finish  per reconstructed layer, one job per chunk of W's rows: its rows of dW formed from
 *           all lanes' x and dy (or the lanes' own dW rows summed), then pushed back through its
 *           chunk of the reconstruction
 *   finishSum the chunks' partial factor gradients added up, chunk order
 */
export interface StepPrograms {
  prep: ProgramDecl[];
  pack: ProgramDecl[];
  lanes: (ProgramDecl & { evalWords: number })[];
  gradPack: ProgramDecl[];
  reduce: ProgramDecl[];
  finish: ProgramDecl[];
  finishSum: ProgramDecl[];
}

/** Per lane, what the host writes before a step: inputs, the target, the meta cell. */
export interface LaneIo {
  /** Where the host writes each input's rows (u8 inputs: bytes, converted by the lane program). */
  inputs: { name: string; key: string; width: number; dtype: 'f32' | 'i32' | 'u8' }[];
  /** classes: the softmax's width, for checking class ids (null: f32 targets). */
  target: { key: string; width: number; dtype: 'f32' | 'i32'; classes: number | null } | null;
  /** 32 bytes: rows (i32 @0), gradScale (f32 @4), loss sum (f64 @8), correct (i32 @16), the step's seed (u64 @STEP_SEED_OFFSET). */
  meta: string;
  /** The loss input's values (the model's outputs: logits or predictions). */
  output: { key: string; width: number };
  /** Embedding lookups whose index arrays the host derives from the lane's ids. */
  embeddings: EmbeddingIndex[];
}

/** How a model input reaches the layers: bytes through a 256-entry table, f32 standardised in place, or as is. */
export type InputConversion = 'lut' | 'affine' | 'none';

export function inputConversion(spec: ModelSpec, input: string): InputConversion {
  const x = spec.inputs.find((i) => i.name === input)!;
  if (x.dtype === 'u8') return 'lut';
  if (x.dtype === 'i32' || !spec.inputNorm) return 'none';
  return isGlobalNorm(spec.inputNorm) || spec.inputNorm[input] ? 'affine' : 'none';
}

/**
 * An input's standardisation table: `lut` 256 f32 (the value of each byte), `affine` the mean
 * then the reciprocal std per feature, each padded to whole 16-byte groups.
 */
export interface InputTable { input: string; kind: 'lut' | 'affine'; key: string; width: number }

const tableKey = (input: string): string => `input.${input}.norm`;

/** Lane `lane`'s rows of a value stored for all lanes in `buffer`, from byte `offsetBytes`. */
export interface LaneView { key: string; buffer: string; offsetBytes: number; lane: number }

export interface Prepared {
  /** Standardisation tables the runtime fills once (from spec.inputNorm and the inputs' ranges). */
  inputTables: InputTable[];
  spec: ModelSpec;
  graph: Graph;
  mode: RunMode;
  batch: number;
  lanes: number;
  laneRows: number;
  schedule: Schedule;
  slots: TensorSlot[];
  /** Contraction plans of the linear layers, in layer order. */
  layerPlans: LayerPlan[];
  buffers: BufferDecl[];
  /**
   * Keys that name a part of a declared buffer: a lane's rows of a value all lanes keep in one
   * buffer, lane after lane (`LaneView`). The runtime resolves them after planning.
   */
  views: LaneView[];
  programs: StepPrograms;
  laneIo: LaneIo[];
  /** Buffer key of a tensor's parameters as the programs read them, and of its gradient in lane l. */
  paramKey: (tensor: string) => string;
  gradKey: (tensor: string, lane: number) => string;
  /** The buffer of the params layout the programs read a tensor from: with SVI, a governed tensor's sampled weights; else μ (params). */
  paramBufferOf: (tensor: string) => string;
}

/** Lane l's gradient buffer (lane 0's is the one the optimiser reads). */
export const gradsBuffer = (lane: number): string => (lane === 0 ? 'grads' : `grads.${lane}`);

/** A shared B this wide (columns) or wider is packed by PACK_JOBS jobs (sharePacked). */
const PACK_SPLIT_COLS = 64;
const PACK_JOBS = 2;

const programBytes = (ops: Op[]): number => link(ops, () => 0).length * 4;

export function prepare(spec: ModelSpec, o: PrepareOptions): Prepared {
  const lanes = o.lanes ?? 1;
  const rowsPerLane = laneBatch(o.batch, lanes);
  const train = o.mode === 'train';
  const graph = buildGraph(spec);
  const L = spec.layers.length;
  const t = stepSchedule(L);
  const slots = tensorSlots(spec, o.lrScales);
  // Only governed tensors have a posterior to sample; the rest are read where Adam writes them.
  const sampled = spec.inference === 'svi' ? governedTensors(spec) : new Set<string>();
  const paramBufferOf = (tensor: string): string => (sampled.has(tensor) ? 'weights' : 'params');
  const buffers: BufferDecl[] = [];
  const declare = (name: string, bytes: number, kind: BufferKind, dtype: BufferDecl['dtype'], layer: string | null, lane: number | null, firstUse: number, lastUse: number, allLanes = false): string => {
    if (buffers.some((b) => b.name === name)) throw new Error(`buffer ${name} declared twice`);
    buffers.push({ name, bytes, dtype, kind, layer, lane, firstUse, lastUse, ...(allLanes ? { allLanes } : {}) });
    return name;
  };

  // Model state: the params layout (every tensor 16-byte aligned), its per-lane gradients, Adam.
  const last = slots[slots.length - 1];
  const paramBytes = last ? (last.offsetFloats + Math.ceil(last.floats / 4) * 4) * F32 : 0;
  declare('rng', 16, 'rng', 'u8', null, null, t.hooks, t.end);
  declare('params', paramBytes, 'params', 'f32', null, null, t.hooks, t.end);
  if (train) {
    for (let l = 0; l < lanes; l++) declare(gradsBuffer(l), paramBytes, 'grads', 'f32', null, l === 0 ? null : l, t.hooks, t.end);
    declare('adam.m', paramBytes, 'optimizer', 'f32', null, null, t.hooks, t.end);
    declare('adam.v', paramBytes, 'optimizer', 'f32', null, null, t.hooks, t.end);
  }
  if (spec.inference) {
    // Rank variances: the f32 precisions the kernels read, the f64 sums of the EM update.
    const slices = rankGroups(spec).reduce((n, g) => n + g.size, 0);
    declare('ard.precision', slices * F32, 'variational', 'f32', null, null, t.hooks, t.end);
    if (train) declare('ard.stats', slices * 8, 'variational', 'f64', null, null, t.hooks, t.hooks);
  }
  if (spec.inference === 'svi') {
    // σ = softplus(ρ) per entry, the sampled weights the programs read, the noise, ρ's gradient and Adam state.
    for (const name of ['rho', 'weights', 'eps']) declare(name, paramBytes, 'variational', 'f32', null, null, t.hooks, t.end);
    if (train) {
      declare('grads.rho', paramBytes, 'grads', 'f32', null, null, t.hooks, t.end);
      declare('adam.rho.m', paramBytes, 'optimizer', 'f32', null, null, t.hooks, t.end);
      declare('adam.rho.v', paramBytes, 'optimizer', 'f32', null, null, t.hooks, t.end);
    }
  }
  const paramKey = (tensor: string): string => `${paramBufferOf(tensor)}@${tensor}`;
  const gradKey = (tensor: string, lane: number): string => `${gradsBuffer(lane)}@${tensor}`;

  // Which values want gradients: outputs of layers with weights, and everything downstream of them.
  const needs = new Map<string, boolean>();
  for (const x of spec.inputs) needs.set(x.name, false);
  spec.layers.forEach((layer, i) => needs.set(layer.name, train && (isTensorLayer(layer) || graph.inputsOf[i].some((v) => needs.get(v)))));

  // In-place activations: y and dy share x's buffers when x is a layer output only it reads.
  const root = new Map<string, string>();
  const rootOf = (v: string): string => root.get(v) ?? v;
  spec.layers.forEach((layer, i) => {
    if (layer.kind !== 'activation') return;
    const x = graph.values.get(graph.inputsOf[i][0])!;
    // Not after another activation: its backward reads its own output, which ours would overwrite.
    if (x.producer >= 0 && x.consumers.length === 1 && spec.layers[x.producer].kind !== 'activation') root.set(layer.name, rootOf(x.name));
  });
  const members = new Map<string, string[]>();
  for (const v of graph.values.keys()) members.set(rootOf(v), [...(members.get(rootOf(v)) ?? []), v]);

  // Gradient writers of a value, in backward order (the loss first, then later layers first).
  const lossAt = L; // consumer index the graph gives the loss
  const writers = (v: string): number[] => graph.values.get(v)!.consumers
    .filter((c) => c === lossAt || needs.get(v)).sort((a, b) => b - a);
  const timeOf = (c: number): number => (c === lossAt ? t.loss : t.bwd(c));

  // Value buffers per lane: model inputs (batch kind) and layer outputs (activations), their gradients.
  // Key namespaces: values `lane<l>/<value>`, layer-owned `lane<l>.<layer>.<local>` and
  // `<layer>.<local>`, the step's own `lane<l>.target|meta|program`; names are identifiers, so
  // no two of these can collide whatever the layers are called.
  const outKey = (v: string, l: number): string => `lane${l}/${rootOf(v)}`;
  const doutKey = (v: string, l: number): string => `lane${l}/${rootOf(v)}/grad`;
  const stageKey = (v: string, l: number): string => `lane${l}/${v}/gradPart`;
  const laneIo: LaneIo[] = [];
  const laneConvert: Op[][] = [];
  // The standardisation tables of the inputs (filled by the runtime from spec.inputNorm).
  const inputTables: InputTable[] = [];
  for (const x of spec.inputs) {
    const conv = inputConversion(spec, x.name);
    const width = graph.values.get(x.name)!.width;
    if (conv === 'none') continue;
    const floats = conv === 'lut' ? 256 : 2 * Math.ceil(width / 4) * 4;
    inputTables.push({ input: x.name, kind: conv, key: declare(tableKey(x.name), floats * F32, 'params', 'f32', null, null, t.hooks, t.end), width });
  }
  // The linear layers' contraction plans come first: a reconstruct path whose finish jobs read
  // every lane's x and dy (finishReadsLanes) keeps both alive until finish.
  const budgetOf = (k: number): number | undefined => (Array.isArray(o.budgetBytes) ? o.budgetBytes[k] : o.budgetBytes);
  const planAt = new Map<number, LayerPlan>();
  spec.layers.forEach((layer, i) => {
    if (layer.kind !== 'linear') return;
    planAt.set(i, planLayer(layer as TensorLayerSpec, {
      laneRows: rowsPerLane, lanes, train, needInputGrad: train && Boolean(needs.get(graph.inputsOf[i][0])), budgetBytes: budgetOf(planAt.size), path: o.path,
    }));
  });
  const readsInFinish = (c: number): boolean => train && (planAt.get(c)?.chosen.finishReadsLanes ?? false);
  // Such a finish forms dW from all lanes' rows at once (one GEMM over lanes × rows), so x and dy
  // of those layers are one buffer per value, lane after lane, and each lane's key is a view.
  const allLanes = new Set<string>(), allLanesGrad = new Set<string>();
  spec.layers.forEach((layer, i) => {
    if (!readsInFinish(i)) return;
    allLanes.add(rootOf(graph.inputsOf[i][0]));
    allLanesGrad.add(rootOf(layer.name));
  });
  const views: LaneView[] = [];
  const lanesKey = (r: string): string => `lanes/${r}`, dlanesKey = (r: string): string => `lanes/${r}/grad`;
  const viewParent = new Map<string, string>();
  /** Declares lane l's part of a value buffer: its own buffer, or its rows of the all-lanes one. */
  const declareLane = (all: string | null, name: string, bytes: number, kind: BufferKind, dtype: BufferDecl['dtype'], layer: string | null, l: number, first: number, lastUse: number): void => {
    // One lane: its own buffer is all lanes' rows.
    if (all === null || lanes === 1) { declare(name, bytes, kind, dtype, layer, l, first, lastUse); if (all !== null) viewParent.set(name, name); return; }
    if (l === 0) declare(all, bytes * lanes, kind, dtype, layer, null, first, lastUse, true);
    views.push({ key: name, buffer: all, offsetBytes: l * bytes, lane: l });
    viewParent.set(name, all);
  };
  for (let l = 0; l < lanes; l++) {
    for (const [r, vs] of members) {
      const v0 = graph.values.get(r)!;
      const isInput = v0.producer < 0;
      const width = v0.width;
      let first = isInput ? t.prep : t.fwd(v0.producer), lastUse = first;
      let gFirst = Infinity, gLast = -Infinity, gKeep = -Infinity;
      for (const v of vs) {
        const val = graph.values.get(v)!;
        for (const c of val.consumers) lastUse = Math.max(lastUse, c === lossAt ? t.loss : readsInFinish(c) ? t.finish(c) : train ? t.bwd(c) : t.fwd(c));
        if (train && val.producer >= 0) lastUse = Math.max(lastUse, t.bwd(val.producer));
        if (needs.get(v)) {
          const w = writers(v);
          if (w.length) gFirst = Math.min(gFirst, timeOf(w[0]));
          gLast = Math.max(gLast, t.bwd(val.producer));
          if (readsInFinish(val.producer)) gKeep = Math.max(gKeep, t.finish(val.producer));
        }
        first = Math.min(first, isInput ? t.prep : t.fwd(graph.values.get(v)!.producer));
        // The model's outputs are read by the host after the step (Runtime.outputs).
        if (v === graph.lossInput) lastUse = t.end;
      }
      const ids = v0.dtype === 'i32';
      declareLane(allLanes.has(r) ? lanesKey(r) : null, outKey(r, l), rowsPerLane * width * 4, isInput ? 'batch' : 'activations', ids ? 'i32' : 'f32', isInput ? null : spec.layers[v0.producer].name, l, first, lastUse);
      if (gLast >= 0) declareLane(allLanesGrad.has(r) ? dlanesKey(r) : null, doutKey(r, l), rowsPerLane * width * F32, 'workspace', 'f32', spec.layers[v0.producer].name, l, Math.min(gFirst, gLast), Math.max(gLast, gKeep));
    }
    const tw = targetWidth(spec, graph);
    const soft = spec.loss.kind === 'softmax-xent';
    const target = declare(`lane${l}.target`, rowsPerLane * tw * 4, 'batch', soft ? 'i32' : 'f32', null, l, t.prep, t.loss);
    const meta = declare(`lane${l}.meta`, 32, 'batch', 'u8', null, l, t.prep, t.end);
    // u8 inputs arrive as bytes and are standardised by a table lookup into their f32 values;
    // standardised f32 inputs are standardised in place.
    const convert: Op[] = [];
    const inputs = spec.inputs.map((x) => {
      const width = graph.values.get(x.name)!.width;
      const conv = inputConversion(spec, x.name);
      let key = outKey(x.name, l);
      if (conv === 'lut') {
        key = declare(`lane${l}.input.${x.name}`, rowsPerLane * width, 'batch', 'u8', null, l, t.prep, t.fwd(0));
        convert.push({ op: 'lut', dst: ref(outKey(x.name, l)), src: ref(key), n: rowsPerLane * width, table: ref(tableKey(x.name)) });
      } else if (conv === 'affine') {
        const v = outKey(x.name, l);
        convert.push({ op: 'affine', dst: ref(v), src: ref(v), mean: ref(tableKey(x.name)), invStd: ref(tableKey(x.name), Math.ceil(width / 4) * 4), rows: rowsPerLane, cols: width });
      }
      return { name: x.name, key, width, dtype: conv === 'lut' ? 'u8' as const : x.dtype === 'i32' ? 'i32' as const : 'f32' as const };
    });
    laneConvert.push(convert);
    laneIo.push({
      inputs,
      target: { key: target, width: tw, dtype: soft ? 'i32' : 'f32', classes: soft ? graph.values.get(graph.lossInput)!.width : null },
      meta,
      output: { key: outKey(graph.lossInput, l), width: graph.values.get(graph.lossInput)!.width },
      embeddings: [],
    });
  }

  // Staged gradient writes: every writer after the first of a value with several.
  const gradTarget = (v: string, consumer: number, l: number): GradTarget => {
    const w = writers(v);
    const floats = rowsPerLane * graph.values.get(v)!.width;
    if (w[0] === consumer) return { key: doutKey(v, l), stage: null, floats };
    const stage = stageKey(v, l);
    if (!buffers.some((b) => b.name === stage)) {
      const times = w.slice(1).map(timeOf);
      declare(stage, floats * F32, 'workspace', 'f32', spec.layers[graph.values.get(v)!.producer]?.name ?? null, l, Math.min(...times), Math.max(...times));
    }
    return { key: doutKey(v, l), stage, floats };
  };

  const layerPlans: LayerPlan[] = [];
  const programs: LayerProgram[] = [];
  const laneGrads = new Set<string>();
  spec.layers.forEach((layer, i) => {
    const ins = graph.inputsOf[i];
    const ctx: LowerContext = {
      layer, index: i, lanes, laneRows: rowsPerLane, train, t,
      inWidths: ins.map((v) => graph.values.get(v)!.width),
      outWidth: graph.values.get(layer.name)!.width,
      input: (j, l) => outKey(ins[j], l),
      output: (l) => outKey(layer.name, l),
      allLanes: (key) => {
        const all = viewParent.get(key);
        if (all === undefined) throw new Error(`layer ${layer.name}: ${key} is not kept for all lanes in one buffer`);
        return all;
      },
      outputGrad: (l) => doutKey(layer.name, l),
      needsGrad: (j) => train && Boolean(needs.get(ins[j])),
      gradTarget: (j, l) => gradTarget(ins[j], i, l),
      param: (tensor) => paramKey(tensor),
      grad: (tensor, l) => gradKey(tensor, l),
      declare: (local, floats, kind, lane, firstUse, lastUse, dtype = 'f32') =>
        declare(lane === null ? `${layer.name}.${local}` : `lane${lane}.${layer.name}.${local}`, floats * F32, kind, dtype, layer.name, lane, firstUse, lastUse),
    };
    programs.push(lowerLayer(ctx, layer, () => {
      const plan = planAt.get(i)!;
      layerPlans.push(plan);
      return plan;
    }, laneGrads, laneIo));
  });

  // Lane programs: forward of every layer, the loss, backward in reverse.
  const step: StepPrograms = { prep: [], pack: [], lanes: [], gradPack: [], reduce: [], finish: [], finishSum: [] };
  const int16 = train && (o.precision ?? 'f32') === 'int16';
  // A GEMM goes int16 only where the cost model (src/tn/cost.ts, fitted to the kernels) prices
  // its int16 form, packing included, below its f32 form: the int16 kernel wins on dot products
  // and loses on packing and horizontal sums, so short reductions (a lane's weight gradients over
  // its 32 rows) and thin GEMMs (the finish phase's 16×16 blocks) stay f32. The committed rates
  // make this the same decision on every machine and flavour.
  // Backward GEMMs (a lane's, and the finish phases') round stochastically (a gradient's small updates survive in
  // expectation), each op its own stream of the step's seed (the lane's meta cell, written by
  // Runtime.load), so the draws depend on neither the thread count nor the order the lanes run in.
  // Each program's int16 GEMMs add to the program's own three counters in INT16_COUNTS (programs
  // of one phase run on different threads), which the host sums after the step.
  let streams = 0, countSlots = 0;
  const byName = new Map(buffers.map((b) => [b.name, b]));
  // A lane's forward GEMM whose B no lane writes (a shared buffer: params, or the W the prep phase
  // rebuilt) reads the same B in every lane: see sharePacked.
  const paramKeys = new Set(slots.map((x) => paramKey(x.name)));
  const sharedB = (x: { h: number; b: Ref }): boolean => {
    const d = byName.get(x.b.buf);
    return x.h === 1 && (paramKeys.has(x.b.buf) || (d !== undefined && d.lane === null && d.kind !== 'grads'));
  };
  // In a backward GEMM, the operands that may carry a gradient round stochastically; a parameter
  // or a saved activation (or a model input) is not one and rounds to nearest (what a gradient's small entries need,
  // and no more draws than that).
  const notGradient = (r: Ref): boolean => paramKeys.has(r.buf) || byName.get(r.buf)?.kind === 'activations' || byName.get(r.buf)?.kind === 'batch';
  const srMode = (x: { a: Ref; b: Ref }): number => (notGradient(x.a) ? 0 : 1) | (notGradient(x.b) ? 0 : 2);
  // The op a GEMM becomes at int16 (stream filled in when it is kept).
  const int16Form = (x: Extract<Op, { op: 'gemm' }>, counts?: Ref, seed?: Ref): Extract<Op, { op: 'gemmI16' }> =>
    (seed && srMode(x) !== 0 ? { ...x, op: 'gemmI16', mode: srMode(x) as 1 | 2 | 3, seed, stream: 0, counts } : { ...x, op: 'gemmI16', mode: 0, counts });
  // Its modelled ns: a lane-forward GEMM of a shared B reads B packed by the pack phase, which
  // runs once per step for all lanes (sharePacked).
  const int16Ns = (g: Extract<Op, { op: 'gemmI16' }>, laneForward: boolean): number => {
    if (!(laneForward && g.mode === 0 && sharedB(g))) return opNs(g);
    const pack: Op = { op: 'packI16', dst: g.b, b: g.b, ldb: g.ldb, strideB: g.strideB, n: g.n, k: g.k, t: g.t };
    return opNs({ ...g, bPacked: g.b }) + opNs(pack) / lanes;
  };
  const atPrecision = (ops: Op[], counts?: Ref, seed?: Ref, laneForward = false): Op[] => (int16
    ? ops.map((x): Op => {
      if (x.op !== 'gemm') return x;
      const g = int16Form(x, counts, seed);
      if (int16Ns(g, laneForward) >= opNs(x)) return x;
      return g.mode !== 0 ? { ...g, stream: streams++ } : g;
    })
    : ops);
  // A shared B: the pack phase packs it once per step (PACK_I16) and the lanes' GEMM_I16 read it
  // packed (bPacked), instead of each lane packing W again. Same bits.
  // Which B a GEMM reads (buffer, offset and layout): GEMMs with the same key can share one pack.
  const packKey = (x: { b: Ref; ldb: number; strideB: number; n: number; k: number; t: number }): string => JSON.stringify([x.b, x.ldb, x.strideB, x.n, x.k, x.t]);
  // The PACK_I16 jobs packing x's B into dst, pushed onto a phase. A wide B is packed by
  // PACK_JOBS jobs, each its own columns (in fours), so two threads share the phase; each job
  // scans all of B for the frac (same bits as one job), which is why not more: on the default
  // TTM one thread lost 3 % of a step with 4 jobs, two gained 3 %.
  const packJobs = (phase: ProgramDecl[], name: string, dst: Ref, x: { b: Ref; ldb: number; strideB: number; n: number; k: number; t: number }, sr?: { seed: Ref; stream: number }): void => {
    const jobs = x.n >= PACK_SPLIT_COLS ? PACK_JOBS : 1;
    for (let c = 0; c < jobs; c++) {
      const j0 = Math.round((c * x.n) / jobs / 4) * 4, j1 = c === jobs - 1 ? x.n : Math.round(((c + 1) * x.n) / jobs / 4) * 4;
      const pack: Op = { op: 'packI16', dst, b: x.b, ldb: x.ldb, strideB: x.strideB, n: x.n, k: x.k, t: x.t, ...(jobs > 1 ? { cols: [j0, j1] as [number, number] } : {}), ...(sr ? { sr } : {}) };
      phase.push(program(jobs > 1 ? `${name}.prog${c}` : `${name}.prog`, [pack]));
    }
  };
  const packed = new Map<string, Ref>();
  const sharePacked = (ops: Op[]): Op[] => ops.map((x): Op => {
    if (x.op !== 'gemmI16' || x.mode !== 0 || !sharedB(x)) return x;
    const lastUse = byName.get(x.b.buf)?.lastUse ?? t.end; // a tensor lives in params (or weights) all run
    let dst = packed.get(packKey(x));
    if (!dst) {
      const name = declare(`int16.packed${packed.size}`, packedI16Bytes(x), 'workspace', 'u8', null, null, t.prep, lastUse);
      dst = ref(name);
      packed.set(packKey(x), dst);
      packJobs(step.pack, name, dst, x);
    }
    return { ...x, bPacked: dst };
  });
  const program = (key: string, source: Op[], lane?: { backwardFrom: number; seed: Ref }, seed?: Ref, share: (ops: Op[]) => Op[] = (x) => x): ProgramDecl => {
    const counts = int16 ? ref(INT16_COUNTS, 4 * countSlots++) : undefined;
    const ops = (lane
      ? [...sharePacked(atPrecision(source.slice(0, lane.backwardFrom), counts, undefined, true)), ...atPrecision(source.slice(lane.backwardFrom), counts, lane.seed)]
      : share(atPrecision(source, counts, seed)))
      .map((x) => (x.op === 'packI16' && counts ? { ...x, counts } : x));
    const words = programBytes(ops) / 4;
    declare(key, words * 4, 'meta', 'i32', null, null, t.hooks, t.end);
    return { key, ops, words };
  };
  programs.forEach((p, i) => p.prep.forEach((job, c) => { if (job.length) step.prep.push(program(`${spec.layers[i].name}.prog.prep${c}`, job)); }));
  for (let l = 0; l < lanes; l++) {
    const io = laneIo[l];
    const fwd = [...laneConvert[l], ...programs.flatMap((p) => p.forward[l])];
    const lossOp: Op = {
      op: 'loss', fn: spec.loss.kind, dy: train && needs.get(graph.lossInput) ? ref(doutKey(graph.lossInput, l)) : null,
      y: ref(io.output.key), target: ref(io.target!.key), maxRows: rowsPerLane, cols: io.output.width, meta: ref(io.meta),
    };
    const bwd = train ? [...programs].reverse().flatMap((p) => p.backward[l] ?? []) : [];
    const evalWords = programBytes(sharePacked(atPrecision([...fwd, lossOp], undefined, undefined, true))) / 4;
    step.lanes.push({ ...program(`lane${l}.program`, [...fwd, lossOp, ...bwd], { backwardFrom: fwd.length + 1, seed: { buf: io.meta, off: STEP_SEED_OFFSET / 4 } }), evalWords });
  }
  if (train) {
    // Lane gradients summed into lane 0's, lane order, in `lanes` chunks of whole 16-byte groups.
    const ranges: [number, number][] = [];
    for (const s of slots) {
      if (!laneGrads.has(s.name)) continue;
      const floats = Math.ceil(s.floats / 4) * 4;
      const prev = ranges[ranges.length - 1];
      if (prev && prev[0] + prev[1] === s.offsetFloats) prev[1] += floats; else ranges.push([s.offsetFloats, floats]);
    }
    const total = ranges.reduce((n, r) => n + r[1], 0);
    const per = Math.ceil(total / lanes / 4) * 4;
    if (lanes > 1 && total > 0) {
      for (let c = 0, at = 0; c < lanes; c++) {
        const lo = c * per, hi = Math.min(total, lo + per);
        const ops: Op[] = [];
        for (let l = 1; l < lanes; l++) {
          at = 0;
          for (const [off, n] of ranges) {
            const a = Math.max(lo, at), b = Math.min(hi, at + n);
            if (b > a) ops.push({ op: 'add', dst: ref('grads', off + a - at), src: ref(gradsBuffer(l), off + a - at), n: b - a });
            at += n;
          }
        }
        if (ops.length) step.reduce.push(program(`reduce.${c}`, ops));
      }
    }
    // Finish and finishSum push dW back through the reconstruction: backward GEMMs too, rounding
    // stochastically like a lane's (every lane's meta holds the step's seed; lane 0's is read).
    // A reconstruct intermediate is workspace like the dW partials it meets, so both operands of
    // such a GEMM round stochastically: unbiased either way, and the counter-based draws cost
    // about what nearest rounding does (lowp.ts).
    const finishSeed = { buf: laneIo[0].meta, off: STEP_SEED_OFFSET / 4 };
    // A gradient B that several finish GEMMs read (each chunk's rows of dW = xᵀ·dy read all of
    // dy) is packed once a step, stochastically, by the gradPack phase between the lanes and the
    // finish jobs, and those GEMMs read it packed (mode 0 with bPacked) where each packed it again:
    // the default TTM's four chunks packed dy four times. The pack draws on the first reader's
    // stream with the keys that GEMM gave its B, so chunk 0 keeps its bits, and each reader equals
    // a mode 2 GEMM_I16 on that stream (A rounds to nearest in both). Its lifetime is the gradients
    // phase's ([finish, finish]): it is written after every lane has finished, when the only
    // buffers it may share bytes with (last used by a lane's backward, or first by finishSum) are
    // not in use; no schedule time lies between the last backward and finish.
    const readers = new Map<string, number>();
    for (const p of programs) {
      for (const x of p.finish.flat()) {
        // Only a B the lanes wrote (every lane's dy in one buffer): what the gradPack phase reads
        // must be complete before it, and a finish job's workspace (reused at the same offsets
        // node after node) is not.
        if (!int16 || x.op !== 'gemm' || x.h !== 1 || srMode(x) !== 2 || byName.get(x.b.buf)?.allLanes !== true) continue;
        if (int16Ns(int16Form(x, undefined, finishSeed), false) >= opNs(x)) continue;
        readers.set(packKey(x), (readers.get(packKey(x)) ?? 0) + 1);
      }
    }
    const gradPacked = new Map<string, Ref>();
    const shareGradB = (ops: Op[]): Op[] => ops.map((x): Op => {
      if (x.op !== 'gemmI16' || x.mode !== 2 || x.h !== 1 || (readers.get(packKey(x)) ?? 0) < 2) return x;
      let dst = gradPacked.get(packKey(x));
      if (!dst) {
        const name = declare(`int16.gradPacked${gradPacked.size}`, packedI16Bytes(x), 'workspace', 'u8', null, null, t.finish(0), t.finish(0));
        dst = ref(name);
        gradPacked.set(packKey(x), dst);
        packJobs(step.gradPack, name, dst, x, { seed: x.seed, stream: x.stream });
      }
      const { seed: _seed, stream: _stream, mode: _mode, ...gemm } = x;
      return { ...gemm, op: 'gemmI16', mode: 0, bPacked: dst };
    });
    programs.forEach((p, i) => p.finish.forEach((job, c) => { if (job.length) step.finish.push(program(`${spec.layers[i].name}.prog.finish${c}`, job, undefined, finishSeed, shareGradB)); }));
    programs.forEach((p, i) => { if (p.finishSum.length) step.finishSum.push(program(`${spec.layers[i].name}.prog.finishSum`, p.finishSum, undefined, finishSeed)); });
  }
  if (int16) declare(INT16_COUNTS, 16 * countSlots, 'meta', 'i32', null, null, t.hooks, t.end);
  if (train && (o.datasetCount ?? 0) > 0) declare('order', o.datasetCount! * 4, 'dataset', 'i32', null, null, t.hooks, t.end);
  return {
    spec, graph, mode: o.mode, batch: o.batch, lanes, laneRows: rowsPerLane, schedule: t, slots, layerPlans, buffers, views,
    programs: step, laneIo, paramKey, gradKey, paramBufferOf, inputTables,
  };
}

function lowerLayer(ctx: LowerContext, layer: LayerSpec, plan: () => LayerPlan, laneGrads: Set<string>, laneIo: LaneIo[]): LayerProgram {
  switch (layer.kind) {
    case 'linear': {
      const p = lowerLinear(ctx, plan());
      for (const x of p.laneGrads) laneGrads.add(x);
      return p;
    }
    case 'activation': return lowerActivation(ctx);
    case 'concat': return lowerConcat(ctx);
    case 'interaction': return lowerInteraction(ctx);
    case 'embedding': {
      const p = lowerEmbedding(ctx);
      for (const x of p.laneGrads) laneGrads.add(x);
      p.indexes.forEach((e, l) => laneIo[l].embeddings.push(e));
      return p;
    }
  }
}

/**
 * The declarations as the greedy planner's requests: lanes are concurrency groups, and a buffer
 * holding every lane's rows is a group of its own (it meets every lane's buffers, and another
 * such buffer, at any time: some lane may be at any point of its program).
 */
export function timedRequests(p: Prepared): TimedRequest[] {
  const group = (b: BufferDecl): { group?: string } => (b.lane !== null ? { group: `lane${b.lane}` } : b.allLanes ? { group: b.name } : {});
  return p.buffers.map((b) => ({ name: b.name, bytes: b.bytes, kind: b.kind, firstUse: b.firstUse, lastUse: b.lastUse, ...group(b) }));
}
