// Simulation of one model on one device: the memory plan the runtime would allocate, checked
// against the device's budget, plus the cost model's per-layer MACs, time and energy.
//
// Memory: the buffer requests are exactly those the runtime allocates (bufferRequests of
// src/train/runtime.ts) with ONE lane and NO dataset order buffer (datasetCount 0: the shuffle
// order of a training set is host-side bookkeeping whose size depends on the data, not on the
// model), placed by the greedy lifetime planner the runtime uses (buffers never live at the same
// step share bytes) from offset 0 (the core's static data and stack are not counted). When the
// cheapest contraction paths do not fit, layers are re-planned under a workspace budget (fitPlan).
//
// Bit width: the runtime today computes in f32 only. For bits 8 and 16 the plan is a PROJECTION:
// every f32 buffer of the element-typed kinds (params, grads, optimizer, variational,
// activations, workspace, batch inputs) is taken at bits/32 of its f32 bytes, rounded up to 16
// bytes; buffers that are not f32 elements keep their size: rng and meta (core programs, i32), and
// the batch's labels (u8) and correct-count (i32) buffers; each layer adds an int32 accumulator
// (kind fixed). At 32 bits the plan equals the runtime's byte for byte.
//
// Budget: every buffer is counted against the device's budgetBytes (writable memory), including
// the parameters in inference (a build that keeps weights in flash would need less RAM).
//
// Layers: a layer's bytes are the buffers named after it (`<layer>.*`, `lane<l>.<layer>.*`:
// programs, saved intermediates, outputs, output gradients, workspaces), aligned. The shared
// params / grads / optimizer / batch / rng buffers are not split per layer; `paramBytes` gives the
// layer's own share of the params buffer at the bit width, for reference.

import { estimate, type CostBits, type CostMode, type LayerFlag } from './cost-model.js';
import type { DeviceProfile } from './devices.js';
import { planMemory, PLAN_ALIGN_BYTES, type BufferKind, type BufferRequest } from './plan/planner.js';
import { prepare, timedRequests, type Prepared } from '../src/prepare/prepare.js';
import { BudgetError } from '../src/tn/plan.js';
import { planGreedy, type TimedRequest } from './plan/greedy-planner.js';
import { layerParams } from '../src/model/layers.js';
import { tensorLayers, type ModelSpec } from '../src/spec/types.js';
import type { BufferDecl } from '../src/layers/types.js';
import { ModelFileError } from '../src/model/file.js';
import { showValue } from '../src/util/show.js';
import { deployment, type Deployment } from './deployment.js';
import { inferenceSpec } from '../src/image/image.js';

export type SimMode = CostMode;
export type SimBits = CostBits;

export interface SimOptions {
  spec: ModelSpec;
  device: DeviceProfile;
  mode: SimMode;
  bits: SimBits;
  batch: number;
  /** Batch lanes, as `btnn train --lanes` (default 1: the leanest plan; the plan grows with lanes). */
  lanes?: number;
  /** The model's rank history (ARD training: the start and every pruning event), charted when given. */
  rankHistory?: RankHistoryPoint[];
}

/** One point of a model's training history: ranks per layer, params and plan bytes after `step`. */
export interface RankHistoryPoint { step: number; epoch: number; ranks: Record<string, number[]>; params: number; planBytes: number }

/**
 * `value` (the parsed `btnn.history` of a model file) checked to be RankHistoryPoint[]: throws a
 * ModelFileError `<where>[i].<field> = <value>: <what it must be>` naming the first bad field, so
 * a damaged history stops `simulate` before any report is written rather than inside the HTML one.
 */
export function validateRankHistory(value: unknown, where: string): RankHistoryPoint[] {
  const fail = (field: string, v: unknown, must: string): never => {
    throw new ModelFileError(`${where}${field} = ${showValue(v)}: ${must}; the file was altered (retrain, or drop btnn.history)`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(value)) fail('', value, 'must be an array of {step, epoch, ranks, params, planBytes}');
  const keys = ['step', 'epoch', 'ranks', 'params', 'planBytes'];
  return (value as unknown[]).map((p, i) => {
    const at = `[${i}]`;
    if (!isObj(p)) fail(at, p, 'must be an object {step, epoch, ranks, params, planBytes}');
    const o = p as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${at}.${k}`, o[k], `unknown field; a history point has ${keys.join(', ')}`);
    for (const k of ['step', 'epoch', 'params', 'planBytes']) if (!count(o[k])) fail(`${at}.${k}`, o[k], 'must be an integer >= 0');
    if (!isObj(o.ranks)) fail(`${at}.ranks`, o.ranks, 'must be an object {layer: [ranks]}');
    const ranks: Record<string, number[]> = Object.create(null); // a layer named "__proto__" stays a key
    for (const [layer, r] of Object.entries(o.ranks as Record<string, unknown>)) {
      if (!Array.isArray(r) || !r.every((x) => Number.isSafeInteger(x) && x >= 0)) fail(`${at}.ranks[${showValue(layer)}]`, r, 'must be an array of integers >= 0');
      ranks[layer] = [...(r as number[])];
    }
    return { step: o.step as number, epoch: o.epoch as number, ranks, params: o.params as number, planBytes: o.planBytes as number };
  });
}

export interface SimBuffer {
  name: string;
  kind: BufferKind;
  /** Requested bytes at the simulated bit width (before the plan's 16-byte alignment). */
  bytes: number;
  offset: number;
}

export interface SimLayer {
  name: string;
  /** Plan bytes (aligned) of the buffers named after the layer. */
  bytes: number;
  /** The layer's parameters at the bit width (its share of the shared params buffer). */
  paramBytes: number;
  macs: number;
  ms: number;
  energyUj: number;
  bound: 'compute' | 'memory';
  flags: LayerFlag[];
}

export interface SimReport {
  device: string;
  deviceName: string;
  mode: SimMode;
  bits: SimBits;
  batch: number;
  /** Bytes of the plan (the greedy lifetime plan the runtime allocates), alignment included. */
  totalBytes: number;
  /** Σ categories: what every buffer would take with bytes of its own (the linear plan). */
  unsharedBytes: number;
  /** unsharedBytes − totalBytes: bytes shared by buffers that are never live at the same step. */
  sharedBytes: number;
  budgetBytes: number;
  fits: boolean;
  /** budgetBytes − totalBytes: negative when the plan does not fit. */
  marginBytes: number;
  /** Plan bytes (aligned) per buffer kind; every kind is present (0 when unused). */
  categories: Record<BufferKind, number>;
  layers: SimLayer[];
  buffers: SimBuffer[];
  totalMs: number;
  totalEnergyUj: number;
  assumptions: string[];
  /** Present when the model carries its history (trained with --inference svi|map). */
  rankHistory?: RankHistoryPoint[];
  /**
   * mode infer: the exported module (`btnn export --bits`, one row): constants and program in flash
   * where the device has it, the arena in RAM (hw-sim/deployment.ts). Its verdict is the deployment's.
   */
  deployment?: Deployment;
}

export const BUFFER_KINDS: readonly BufferKind[] = ['rng', 'params', 'grads', 'optimizer', 'variational', 'activations', 'workspace', 'fixed', 'batch', 'dataset', 'meta'];
const SCALED_KINDS: ReadonlySet<BufferKind> = new Set<BufferKind>(['params', 'grads', 'optimizer', 'variational', 'activations', 'workspace', 'batch']);

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** True when a buffer holds f32 elements that a narrower build would store at `bits` (its declared dtype says so). */
function isElementBuffer(r: BufferDecl): boolean {
  return SCALED_KINDS.has(r.kind) && r.dtype === 'f32';
}

/** The runtime's requests with element buffers projected to `bits` (header). */
export function scaleRequests(decls: BufferDecl[], bits: SimBits): TimedRequest[] {
  return decls.map((r) => {
    const req: TimedRequest = { name: r.name, bytes: r.bytes, kind: r.kind, firstUse: r.firstUse, lastUse: r.lastUse, ...(r.lane !== null ? { group: `lane${r.lane}` } : {}) };
    return bits !== 32 && isElementBuffer(r) ? { ...req, bytes: alignUp((r.bytes * bits) / 32, PLAN_ALIGN_BYTES) } : req;
  });
}

/**
 * Fixed-point scratch (bits 8 and 16): integer GEMMs accumulate in int32 before requantising to
 * the element width, so each layer needs an int32 accumulator as large as its largest GEMM output
 * (h·m·n of its programs). Live during the layer's forward (and backward): in inference the
 * layers' accumulators share bytes.
 */
function fixedScratch(p: Prepared, bits: SimBits): (TimedRequest & { layer: string })[] {
  if (bits === 32) return [];
  const t = p.schedule, train = p.mode === 'train';
  return p.layerPlans.map(({ layer, chosen }) => {
    const i = p.spec.layers.findIndex((l) => l.name === layer.name);
    const ops = [...chosen.prep, ...chosen.forward, ...(train ? [...chosen.backward, ...chosen.finish] : [])];
    const floats = Math.max(0, ...ops.map((o) => (o.op === 'gemm' ? o.h * o.m * o.n : 0)));
    return { name: `${layer.name}.acc32`, layer: layer.name, bytes: alignUp(floats * 4, PLAN_ALIGN_BYTES), kind: 'fixed' as const, firstUse: train ? t.prep : t.fwd(i), lastUse: train ? t.finish(i) : t.fwd(i) };
  });
}

/**
 * The plan the device gets. The contraction planner first picks each layer's cheapest path; if the
 * whole plan then exceeds the device budget, it is re-planned with a per-layer workspace budget
 * (the device budget in f32 bytes, then halved down to 1 KiB) so layers fall back to leaner paths
 * (direct contraction instead of rebuilding W). The first plan that fits wins; if none fits, the
 * smallest one is reported (and does not fit).
 */
function fitPlan(spec: ModelSpec, device: DeviceProfile, mode: SimMode, bits: SimBits, batch: number, lanes: number) {
  let best: { requests: BufferRequest[]; plan: ReturnType<typeof planGreedy>; layerBudgetBytes?: number; prepared: Prepared } | null = null;
  const budgets: (number | undefined)[] = [undefined];
  for (let b = (device.budgetBytes * 32) / bits; b >= 1024; b /= 2) budgets.push(Math.floor(b));
  for (const budget of budgets) {
    let prepared: Prepared;
    try {
      prepared = prepare(spec, { batch, mode, lanes, budgetBytes: budget });
    } catch (err) {
      if (err instanceof BudgetError) break;
      throw err;
    }
    const requests = [...scaleRequests(prepared.buffers, bits), ...fixedScratch(prepared, bits)];
    const plan = planGreedy(requests, 0);
    if (!best || plan.totalBytes < best.plan.totalBytes) best = { requests, plan, layerBudgetBytes: budget, prepared };
    if (plan.totalBytes <= device.budgetBytes) return { requests, plan, layerBudgetBytes: budget, prepared };
  }
  return best!;
}

export function simulate(opts: SimOptions): SimReport {
  const { spec, device, mode, bits, batch } = opts;
  const lanes = opts.lanes ?? 1;
  const { requests, plan, layerBudgetBytes, prepared } = fitPlan(spec, device, mode, bits, batch, lanes);
  // Owners come from the declarations (and the accumulators' own field), never from names.
  const owner = new Map<string, string | null>(prepared.buffers.map((b) => [b.name, b.layer]));
  for (const r of requests) if ('layer' in r) owner.set(r.name, (r as { layer: string }).layer);
  const pathNote = layerBudgetBytes === undefined
    ? 'contraction paths: each layer\'s cheapest (the src/tn planner with no workspace budget)'
    : `contraction paths: the cheapest plan exceeded the budget, so each layer took its cheapest path within ${layerBudgetBytes} f32 bytes of workspace`;
  const cost = estimate(spec, device, { batch, mode, bits, budgetBytes: layerBudgetBytes }); // validates batch, mode, bits
  const unsharedBytes = planMemory(requests, 0).totalBytes;

  const categories = Object.fromEntries(BUFFER_KINDS.map((k) => [k, plan.bytesByKind[k] ?? 0])) as Record<BufferKind, number>;
  const placed = (bytes: number) => alignUp(bytes, PLAN_ALIGN_BYTES);
  const layers = tensorLayers(spec).map((layer, i): SimLayer => {
    const c = cost.layers[i];
    return {
      name: layer.name,
      bytes: plan.buffers.filter((b) => owner.get(b.name) === layer.name).reduce((s, b) => s + placed(b.bytes), 0),
      paramBytes: (layerParams(layer) * bits) / 8,
      macs: c.macs,
      ms: c.ms,
      energyUj: c.energyUj,
      bound: c.bound,
      flags: c.flags,
    };
  });

  const assumptions = [
    `memory plan: the buffers the runtime allocates (src/prepare) for ${lanes} lane(s), without the dataset shuffle-order buffer (datasetCount 0), placed by the greedy lifetime planner (buffers never live at the same step of a training step share bytes) with 16-byte alignment from offset 0; the core\'s static data and stack are not counted`,
    bits === 32
      ? 'bits 32: the plan equals the f32 runtime\'s plan'
      : `bits ${bits}: a projection (the runtime is f32-only today): params, grads, optimizer, variational, activations, workspace and batch inputs at ${bits}/32 of their f32 bytes, rounded up to 16; rng, programs (meta), labels (u8) and the correct counter unchanged; plus per layer an int32 accumulator (kind fixed) as large as its largest GEMM output`,
    pathNote,
    'budget: every buffer counted against budgetBytes, including the parameters (weights kept in flash would need less RAM)',
    'layer bytes: the buffers named after the layer (programs, saved intermediates, outputs, output gradients, workspaces, int32 accumulators), each counted whole even where the greedy plan lets it share bytes; shared params/grads/optimizer/batch buffers are not split per layer',
    ...cost.assumptions,
  ];

  return {
    device: device.id,
    deviceName: device.name,
    mode, bits, batch,
    totalBytes: plan.totalBytes,
    unsharedBytes,
    sharedBytes: unsharedBytes - plan.totalBytes,
    budgetBytes: device.budgetBytes,
    fits: plan.totalBytes <= device.budgetBytes,
    marginBytes: device.budgetBytes - plan.totalBytes,
    categories,
    layers,
    buffers: plan.buffers.map((b) => ({ name: b.name, kind: b.kind, bytes: b.bytes, offset: b.offset })),
    totalMs: cost.totalMs,
    totalEnergyUj: cost.totalEnergyUj,
    assumptions,
    ...(opts.rankHistory ? { rankHistory: opts.rankHistory } : {}),
    ...(mode === 'infer' ? deploymentOrReason(spec, device, bits, assumptions) : {}),
  };
}

/** The exported module's needs, or (a model export cannot write yet) the reason in the assumptions. */
function deploymentOrReason(spec: ModelSpec, device: DeviceProfile, bits: SimBits, assumptions: string[]): { deployment?: Deployment } {
  try {
    return { deployment: deployment(inferenceSpec(spec), device, bits) };
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'ExportError' && name !== 'QuantError') throw err;
    assumptions.push(`deployment: not reported, btnn export cannot write this model at ${bits} bits yet (${(err as Error).message}); the verdict is the runtime plan's`);
    return {};
  }
}

/** The verdict a user acts on: the deployment's for inference, the runtime plan's for training. */
export const reportFits = (r: SimReport): boolean => (r.deployment ? r.deployment.fitsFlash && r.deployment.fitsRam : r.fits);
