// What prepare hands a layer kind when it lowers it: where its inputs, output and gradients live
// (global buffer keys, per lane), whether an input wants a gradient, and the step's schedule.
import type { LayerSpec } from '../spec/types.js';
import type { Op, Ref } from '../tn/compile.js';
import type { BufferDecl, Schedule } from './types.js';
import type { BufferKind } from '../../hw-sim/plan/planner.js';

/** Where to write an input's gradient: straight into `key`, or into `stage` and then added to `key`. */
export interface GradTarget { key: string; stage: string | null; floats: number }

export interface LowerContext {
  layer: LayerSpec;
  index: number;
  lanes: number;
  laneRows: number;
  train: boolean;
  t: Schedule;
  /** Widths per row of the layer's inputs, in order. */
  inWidths: number[];
  outWidth: number;
  /** Key of input j's values in lane l (activations or a model input's batch buffer). */
  input(j: number, lane: number): string;
  /** Key of the layer's output in lane l. */
  output(lane: number): string;
  /** Key of the gradient of the layer's output in lane l (train only). */
  outputGrad(lane: number): string;
  /**
   * The buffer that holds every lane's rows of a value, lane after lane, from lane 0's key (a
   * layer whose finish reads all lanes: its input and its output's gradient are kept so).
   */
  allLanes(key: string): string;
  /** Input j wants a gradient (some tensor upstream of it trains). */
  needsGrad(j: number): boolean;
  gradTarget(j: number, lane: number): GradTarget;
  /** Parameters the programs read (μ, or the sampled weights with SVI) and lane l's gradient of a tensor. */
  param(tensor: string): string;
  grad(tensor: string, lane: number): string;
  /** Declares a buffer owned by this layer (lane null: shared), returns its key. */
  declare(local: string, floats: number, kind: BufferKind, lane: number | null, firstUse: number, lastUse: number, dtype?: BufferDecl['dtype']): string;
}

export const ref = (buf: string, off = 0): Ref => ({ buf, off });

/** Appends the add that completes a staged gradient write (see GradTarget). */
export function completeGrad(ops: Op[], g: GradTarget): void {
  if (g.stage) ops.push({ op: 'add', dst: ref(g.key), src: ref(g.stage), n: g.floats });
}

/** Where a gradient op should write: the stage when there is one. */
export const gradDst = (g: GradTarget): string => g.stage ?? g.key;

/**
 * The same ops with every buffer key mapped (programs from src/tn use local names: x, y, dx, dy,
 * param:<tensor>, grad:<tensor>, workspaces). Refs are the op fields holding {buf, off}.
 */
export function rebind(ops: Op[], map: (local: string) => string): Op[] {
  return ops.map((o) => {
    const copy: Record<string, unknown> = { ...o };
    for (const [k, v] of Object.entries(copy)) {
      if (v && typeof v === 'object' && 'buf' in (v as object)) copy[k] = { ...(v as Ref), buf: map((v as Ref).buf) };
    }
    return copy as unknown as Op;
  });
}
