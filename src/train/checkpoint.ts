// Checkpoints: everything a training step mutates, in one safetensors file, so `--resume`
// continues bit-exactly. F32 tensors (parameters, Adam moments, posterior scales, and the NaN
// guard's good snapshot of them) are tensors named `<buffer>/<tensor>` (`good.<buffer>/…` for the
// snapshot); the exact non-f32 state (rng bytes, the epoch's sample order, rank variances in f64)
// is base64 of its little-endian bytes in __metadata__, next to the JSON of the loop state.
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import type { Snapshot } from '../ard/prune.js';
import type { ModelSpec } from '../spec/types.js';
import { validateSpec } from '../spec/validate.js';
import { showValue } from '../util/show.js';

export const CHECKPOINT_VERSION = '1';

export class CheckpointError extends Error {
  constructor(message: string) { super(message); this.name = 'CheckpointError'; }
}

/** The loop's own state (JSON): where it is, what it has logged, what it decided. */
export interface LoopState {
  epoch: number;
  /** Samples of the current epoch already trained (a multiple of the batch, or the epoch's size). */
  cursor: number;
  /** The current epoch's order is drawn (the shuffle ran). */
  shuffled: boolean;
  step: number;
  lrFactor: number;
  epochLossSum: number;
  epochCorrect: number;
  epochKlSum: number;
  epochBeta: number;
  trainMs: number;
  trained: number;
  /** Per tensor layer, the workspace budget the current runtime was prepared with (bytes; null: none). */
  budgets: (number | null)[];
  /** Step-size multipliers frozen at the start. */
  lrScales: Record<string, number>;
  history: unknown[];
  pruneEvents: unknown[];
  /** --precision int16: GEMM operand values quantised, nonzero ones rounded to 0, non-finite heads, over the applied steps (absent in older checkpoints: 0). */
  int16Counts?: { values: number; flushed: number; nonFinite: number };
  warnings: string[];
  /** The spec training started from (the model file's rank history begins there). */
  initialSpec: ModelSpec;
  initialPlanBytes: number;
  /** The options the run was started with, so a resume can refuse different ones. */
  options: Record<string, unknown>;
}

export interface Checkpoint {
  spec: ModelSpec;
  loop: LoopState;
  state: Snapshot;
  rankVar: Float64Array[] | null;
  good: { snap: Snapshot; rankVar: Float64Array[] } | null;
}

const b64 = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function unb64<T>(s: string | undefined, make: (buf: ArrayBuffer) => T, what: string, path: string): T {
  if (typeof s !== 'string') throw new CheckpointError(`${path}: __metadata__ has no ${what}; the file is not a complete btnn checkpoint`);
  const bytes = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return make(copy);
}

function snapshotTensors(prefix: string, s: Snapshot): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const [buffer, m] of s.tensors) for (const [name, data] of m) out.push({ name: `${prefix}${buffer}/${name}`, shape: [data.length], data });
  return out;
}

function snapshotMeta(prefix: string, s: Snapshot): Record<string, string> {
  return {
    [`${prefix}rng`]: b64(s.rng), [`${prefix}order`]: s.order ? b64(s.order) : '', [`${prefix}adamSteps`]: String(s.adamSteps),
    // Which tensors each buffer holds, so the reader looks tensors up by name (never parses names).
    [`${prefix}buffers`]: JSON.stringify(Object.fromEntries([...s.tensors].map(([b, m]) => [b, [...m.keys()]]))),
  };
}

function readSnapshot(prefix: string, tensors: Map<string, NamedTensor>, meta: Record<string, string>, path: string): Snapshot {
  let buffers: Record<string, string[]>;
  try { buffers = JSON.parse(meta[`${prefix}buffers`] ?? ''); } catch { throw new CheckpointError(`${path}: __metadata__ ${prefix}buffers is missing or not JSON`); }
  const m = new Map<string, Map<string, Float32Array>>();
  for (const [buffer, names] of Object.entries(buffers)) {
    const into = new Map<string, Float32Array>();
    for (const name of names) {
      const t = tensors.get(`${prefix}${buffer}/${name}`);
      if (!t) throw new CheckpointError(`${path}: tensor "${prefix}${buffer}/${name}" is missing; the checkpoint is incomplete`);
      into.set(name, t.data);
    }
    m.set(buffer, into);
  }
  const order = meta[`${prefix}order`];
  return {
    tensors: m,
    rng: unb64(meta[`${prefix}rng`], (b) => new Uint8Array(b), `${prefix}rng`, path),
    order: order ? unb64(order, (b) => new Int32Array(b), `${prefix}order`, path) : null,
    adamSteps: Number(meta[`${prefix}adamSteps`]),
  };
}

const rankVarMeta = (v: Float64Array[]): string => JSON.stringify(v.map((x) => b64(x)));
function readRankVar(s: string | undefined, path: string): Float64Array[] {
  try {
    return (JSON.parse(s ?? '') as string[]).map((x) => unb64(x, (b) => new Float64Array(b), 'rankVar', path));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`${path}: __metadata__ rankVar is not valid`);
  }
}

export function writeCheckpoint(path: string, c: Checkpoint): void {
  const tensors = [...snapshotTensors('', c.state), ...(c.good ? snapshotTensors('good.', c.good.snap) : [])];
  const metadata: Record<string, string> = {
    'btnn.checkpoint': CHECKPOINT_VERSION,
    spec: JSON.stringify(c.spec),
    loop: JSON.stringify(c.loop),
    ...snapshotMeta('', c.state),
    ...(c.rankVar ? { rankVar: rankVarMeta(c.rankVar) } : {}),
    ...(c.good ? { ...snapshotMeta('good.', c.good.snap), 'good.rankVar': rankVarMeta(c.good.rankVar) } : {}),
  };
  writeSafetensors(path, tensors, metadata);
}

export function readCheckpoint(path: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(path);
  if (metadata['btnn.checkpoint'] !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${path}: __metadata__ btnn.checkpoint = ${showValue(metadata['btnn.checkpoint'])}: not a version ${CHECKPOINT_VERSION} btnn checkpoint`);
  }
  let spec: ModelSpec, loop: LoopState;
  try {
    spec = validateSpec(JSON.parse(metadata.spec));
    loop = JSON.parse(metadata.loop) as LoopState;
  } catch (err) {
    throw new CheckpointError(`${path}: __metadata__ spec or loop is not valid (${(err as Error).message})`);
  }
  const hasGood = metadata['good.buffers'] !== undefined;
  return {
    spec, loop,
    state: readSnapshot('', tensors, metadata, path),
    rankVar: metadata.rankVar !== undefined ? readRankVar(metadata.rankVar, path) : null,
    good: hasGood ? { snap: readSnapshot('good.', tensors, metadata, path), rankVar: readRankVar(metadata['good.rankVar'], path) } : null,
  };
}
