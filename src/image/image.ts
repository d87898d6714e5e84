// The memory image of an exported model: where the header, the weights (the factors, in their
// tensor format), the input tables, the linked inference program and the arena sit in the
// module's linear memory, for batch 1 on the direct path. The wasm writer bakes the constant part
// into data segments; the C writer turns the same layout into a const weights array and one arena
// array. The arena is hw-sim's greedy lifetime plan of the program's mutable buffers, so the bytes
// the plan reports are the bytes the module has.
import type { ModelSpec } from '../spec/types.js';
import type { LoadedModel } from '../model/file.js';
import { prepare, type Prepared } from '../prepare/prepare.js';
import { link, type Op, type Ref } from '../tn/compile.js';
import { planGreedy, type GreedyPlan } from '../../hw-sim/plan/greedy-planner.js';
import { PLAN_ALIGN_BYTES } from '../../hw-sim/plan/planner.js';
import { inputTableValues } from '../runtime/input-tables.js';
import { buildGraph } from '../spec/graph.js';
import { HEADER_BYTES, MAX_INPUTS, type ClassRule } from './abi.js';
import type { BufferDecl } from '../layers/types.js';
import type { QuantProgram, QOp, QRef } from '../quant/lower.js';

/** A model that cannot be exported as asked (exit 2 in the CLI). */
export class ExportError extends Error {
  constructor(message: string) { super(message); this.name = 'ExportError'; }
}

const align = (n: number, a = PLAN_ALIGN_BYTES): number => Math.ceil(n / a) * a;

export interface ImageInput { name: string; dtype: 'f32' | 'u8' | 'i32'; width: number; address: number; bytes: number }

export interface ModelImage {
  /** The inference spec: the trained one without its posterior (SVI/MAP models export their mean). */
  spec: ModelSpec;
  prepared: Prepared;
  /** First byte of the header (the template's __heap_base, 16-aligned). */
  base: number;
  /** [weightsAt, weightsAt + weightsBytes): the params layout (every tensor 16-byte aligned). */
  weightsAt: number; weightsBytes: number;
  /** The inputs' standardisation tables, after the weights. */
  tablesAt: number; tablesBytes: number;
  /** The linked forward program (i32 words). */
  programAt: number; program: Int32Array;
  /** The mutable buffers: inputs, activations, workspaces. */
  arenaAt: number; arenaBytes: number; arenaPlan: GreedyPlan;
  /** One past the arena. */
  endBytes: number;
  inputs: ImageInput[];
  output: { address: number; width: number; bytes: number; dtype: 'f32' | 'i32'; frac: number | null };
  classRule: ClassRule;
  /** The forward ops over buffer keys (what the C writer emits), and where each key sits. */
  ops: Op[];
  address: (ref: Ref) => number;
  /** Bytes of [weightsAt, programAt): the weights and tables, which never change. */
  constBytes: Uint8Array;
  /** 32 (f32 ops) or 16 / 8 (the integer program of `quant`, addressed by qaddress). */
  bits: 32 | 16 | 8;
  quant?: QuantProgram;
  qaddress?: (ref: QRef) => number;
  qops?: QOp[];
  /** The integer image's constants: where each sits and its element type (the C writer's arrays). */
  qconsts?: { key: string; at: number; bytes: Uint8Array; elem: 'i8' | 'i16' | 'i32' | 'f32' }[];
}

export interface ImageOptions {
  /** Where the header goes: the template module's __heap_base. */
  base: number;
  /** The arena must fit in this many bytes (and each layer's workspace in it). */
  arenaBytes?: number;
}

/** The trained spec as it runs in deployment: the posterior mean, no rank variances or scales. */
export function inferenceSpec(spec: ModelSpec): ModelSpec {
  const { inference: _dropped, ...rest } = spec;
  return rest;
}

/** hw-sim's greedy lifetime plan of the mutable buffers from `at`, refused over the budget with its biggest consumer named. */
export function planArena(buffers: BufferDecl[], at: number, budgetBytes: number | undefined): GreedyPlan {
  const plan = planGreedy(buffers.map((b) => ({ name: b.name, bytes: b.bytes, kind: b.kind, firstUse: b.firstUse, lastUse: b.lastUse })), at);
  const bytes = plan.endBytes - at;
  if (budgetBytes !== undefined && bytes > budgetBytes) {
    const biggest = [...plan.buffers].sort((a, b) => b.bytes - a.bytes)[0];
    throw new ExportError(`the arena needs ${bytes} bytes at batch 1, more than --arena-bytes ${budgetBytes}; its biggest buffer is ${biggest.name} (${biggest.bytes} bytes, ${biggest.kind}); raise --arena-bytes or export a smaller model`);
  }
  return plan;
}

export const refsOf = (op: Op): Ref[] => Object.values(op).filter((v): v is Ref => v !== null && typeof v === 'object' && 'buf' in v);

/** What both the f32 and the integer image start from: the batch-1 direct-path forward program. */
export interface FrontEnd { spec: ModelSpec; prepared: Prepared; ops: Op[]; io: Prepared['laneIo'][number]; used: Set<string>; classRule: ClassRule; width: number }

export function frontEnd(model: LoadedModel, o: ImageOptions): FrontEnd {
  const spec = inferenceSpec(model.spec);
  const embedding = spec.layers.find((l) => l.kind === 'embedding');
  if (embedding) {
    throw new ExportError(`layer ${embedding.name} is an embedding: standalone export does not run embedding lookups yet (their ids are deduplicated on the host); export models of linear, activation, concat and interaction layers`);
  }
  if (spec.inputs.length > MAX_INPUTS) throw new ExportError(`the model has ${spec.inputs.length} inputs: an exported module takes at most ${MAX_INPUTS}`);
  const prepared = prepare(spec, { batch: 1, mode: 'infer', lanes: 1, path: 'direct', budgetBytes: o.arenaBytes });
  if (prepared.programs.prep.length) throw new ExportError('the direct path still rebuilds a weight matrix: cannot export it as a batch-1 program');
  const lane = prepared.programs.lanes[0];
  const lossAt = lane.ops.findIndex((op) => op.op === 'loss');
  const ops = lane.ops.slice(0, lossAt);
  const io = prepared.laneIo[0];

  // Buffers the forward program touches, plus the inputs the host writes and the output it reads.
  const used = new Set<string>(ops.flatMap((op) => refsOf(op).map((r) => r.buf)));
  for (const x of io.inputs) used.add(x.key);
  used.add(io.output.key);
  const graph = buildGraph(spec);
  const width = graph.values.get(graph.lossInput)!.width;
  const classRule: ClassRule = spec.loss.kind === 'softmax-xent' ? 'argmaxF32' : spec.loss.kind === 'sigmoid-bce' && width === 1 ? 'positiveF32' : 'none';
  return { spec, prepared, ops, io, used, classRule, width };
}

export function buildImage(model: LoadedModel, o: ImageOptions): ModelImage {
  const { spec, prepared, ops, io, used, classRule, width } = frontEnd(model, o);
  const paramKeys = new Map(prepared.slots.map((s) => [prepared.paramKey(s.name), s.offsetFloats * 4]));
  const tableKeys = new Set(prepared.inputTables.map((t) => t.key));

  const base = align(o.base);
  const weightsAt = base + HEADER_BYTES;
  const weightsBytes = prepared.buffers.find((b) => b.name === 'params')!.bytes;
  const tablesAt = align(weightsAt + weightsBytes);
  const tableAt = new Map<string, number>();
  let cursor = tablesAt;
  for (const t of prepared.inputTables) { tableAt.set(t.key, cursor); cursor += align(prepared.buffers.find((b) => b.name === t.key)!.bytes); }
  const tablesBytes = cursor - tablesAt;
  const programAt = cursor;
  const programWords = link(ops, () => 0).length;
  const arenaAt = align(programAt + programWords * 4);
  const mutable = prepared.buffers.filter((b) => used.has(b.name) && !tableKeys.has(b.name) && b.kind !== 'params');
  const arenaPlan = planArena(mutable.map((b) => ({ ...b })), arenaAt, o.arenaBytes);
  const arenaBytes = arenaPlan.endBytes - arenaAt;
  const placed = new Map(arenaPlan.buffers.map((b) => [b.name, b.offset]));
  const address = (ref: Ref): number => {
    const p = paramKeys.get(ref.buf);
    const at = p !== undefined ? weightsAt + p : tableAt.get(ref.buf) ?? placed.get(ref.buf);
    if (at === undefined) throw new Error(`export: the program refers to buffer ${ref.buf}, which the image does not hold`);
    return at + ref.off * 4;
  };
  const program = Int32Array.from(link(ops, (key) => address({ buf: key, off: 0 })));
  if (program.length !== programWords) throw new Error(`export: ${program.length} program words linked, ${programWords} planned`);

  // The constant bytes: the posterior mean in the params layout, then the tables.
  const constBytes = new Uint8Array(programAt - weightsAt);
  const weights = new Float32Array(constBytes.buffer, 0, weightsBytes / 4);
  for (const s of prepared.slots) {
    const t = model.tensors.get(s.name);
    if (!t) throw new ExportError(`the model has no tensor ${s.name}`);
    weights.set(t.data, s.offsetFloats);
  }
  for (const t of prepared.inputTables) new Float32Array(constBytes.buffer, tableAt.get(t.key)! - weightsAt, inputTableValues(spec, t).length).set(inputTableValues(spec, t));

  const inputs = io.inputs.map((x) => ({
    name: x.name, dtype: x.dtype, width: x.width, address: placed.get(x.key)!, bytes: x.width * (x.dtype === 'u8' ? 1 : 4),
  }));
  return {
    spec, prepared, base, weightsAt, weightsBytes, tablesAt, tablesBytes, programAt, program, arenaAt, arenaBytes, arenaPlan,
    endBytes: arenaPlan.endBytes, inputs, output: { address: placed.get(io.output.key)!, width, bytes: width * 4, dtype: 'f32', frac: null }, classRule, ops, address, constBytes, bits: 32,
  };
}
