// What a layer kind lowers to: typed buffer declarations and op lists per phase. One training step
// is then a fixed sequence of core programs (assembly/tn.ts), whatever the model:
//   prep      once per step, before the lanes (a reconstructed W)
//   lane      per lane: forward of every layer, the loss, backward of every layer (in reverse)
//   reduce    once per step, after the lanes: the lanes' gradients summed in lane order
//   finish    once per step, after reduce: gradients pushed back through reconstructions
// Buffers name their owner (layer, lane) and lifetime in fields; nothing downstream parses names.
import type { BufferKind } from '../../hw-sim/plan/planner.js';
import type { Op } from '../tn/compile.js';

export type DTypeBytes = 'f32' | 'i32' | 'u8' | 'f64';

export interface BufferDecl {
  /** Unique key of the buffer (an identifier for lookups and reports; never parsed). */
  name: string;
  bytes: number;
  dtype: DTypeBytes;
  kind: BufferKind;
  /** The layer that owns it (null: the model or the step). */
  layer: string | null;
  /** The lane whose rows it holds (null: shared by every lane). */
  lane: number | null;
  /**
   * Holds every lane's rows, lane after lane (lane null; prepare.ts LaneView): lanes run
   * concurrently, so its bytes are nobody else's while any lane runs, whatever its lifetime.
   */
  allLanes?: boolean;
  /** Inclusive lifetime in schedule times (see Schedule). */
  firstUse: number;
  lastUse: number;
}

/**
 * Times of one training step, for buffer lifetimes (inclusive, integer). L = number of layers.
 * ARD hooks (EM update and sampling) 0, batch load and prep 1, forward of layer i 2+i, loss 2+L,
 * backward of layer i 2+2L−i, the gradients phase (reduce, and every layer's finish jobs: they
 * run at once, on any thread) 3+2L, finishSum 4+2L, optimizer 5+2L = end. `finish(i)` is the
 * gradients phase for every i: buffers of two layers' finish jobs must never share bytes.
 */
export interface Schedule {
  hooks: number; prep: number; fwd: (i: number) => number; loss: number; bwd: (i: number) => number;
  finish: (i: number) => number; finishSum: number; end: number;
}

export function stepSchedule(layers: number): Schedule {
  const L = layers;
  return { hooks: 0, prep: 1, fwd: (i) => 2 + i, loss: 2 + L, bwd: (i) => 2 + 2 * L - i, finish: () => 3 + 2 * L, finishSum: 4 + 2 * L, end: 5 + 2 * L };
}

/** A layer's contribution to the step: ops over global buffer keys (its buffers it declares through LowerContext). */
export interface LayerProgram {
  /** Jobs run once per step before the lanes, in any order or in parallel. */
  prep: Op[][];
  /** Per lane. */
  forward: Op[][];
  backward: Op[][];
  /** Jobs once per step after the lanes' gradients are reduced (each sums its own rows of per-lane workspaces first). */
  finish: Op[][];
  /** Once every finish job is done: partial results of the finish jobs added up. */
  finishSum: Op[];
}
