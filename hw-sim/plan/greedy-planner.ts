// Greedy memory planner with lifetimes, in the manner of TFLM's GreedyMemoryPlanner: buffers that
// are never live at the same step may share memory.
//
// Algorithm: each request carries an inclusive lifetime [firstUse, lastUse] in integer steps.
// Buffers are sorted by size descending (ties: earlier firstUse first, then name, so the order
// never depends on input order). Each buffer in turn goes at the lowest offset (a multiple of
// PLAN_ALIGN_BYTES from the aligned base) where its address range overlaps no already-placed
// buffer whose lifetime intersects its own; buffers whose lifetimes are disjoint are ignored, so
// they can share bytes. Sizes are rounded up to PLAN_ALIGN_BYTES before placement.
//
// It is not optimal: placing buffers at fixed offsets with lifetimes is NP-hard (dynamic storage
// allocation), and the greedy pass commits to each offset without backtracking, so an early large
// buffer can leave gaps too small for later ones. It never uses more than planMemory does (every
// buffer ends at or below the sum of the sizes placed before it plus its own), and never less than
// peakLiveBytes, the most bytes live at any one step.
//
// The output is a MemoryPlan of the same shape as planMemory's (buffers in request order, with
// endBytes, totalBytes, bytesByKind), plus the lifetimes and peakLiveBytes, so the runtime can
// switch planners without other changes.

import { PLAN_ALIGN_BYTES, type BufferRequest, type MemoryPlan, type PlacedBuffer } from './planner.js';

export interface TimedRequest extends BufferRequest {
  /** First step (inclusive) at which the buffer holds live data. */
  firstUse: number;
  /** Last step (inclusive) at which the buffer holds live data; >= firstUse. */
  lastUse: number;
  /**
   * Concurrency group: buffers of two different groups always conflict, whatever their steps.
   * Batch lanes run on different threads, each through the same steps but not in lockstep (and
   * their batches are all loaded before any lane starts), so only one lane's steps are ordered.
   */
  group?: string;
}

export type TimedPlacedBuffer = PlacedBuffer & { firstUse: number; lastUse: number };

/** A MemoryPlan (assignable to one) whose buffers also carry their lifetimes. */
export interface GreedyPlan extends MemoryPlan {
  buffers: TimedPlacedBuffer[];
  /** Max over steps of the aligned bytes of buffers live at that step: a lower bound on totalBytes. */
  peakLiveBytes: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
const livesIntersect = (a: TimedRequest, b: TimedRequest): boolean =>
  (a.group !== undefined && b.group !== undefined && a.group !== b.group) || (a.firstUse <= b.lastUse && b.firstUse <= a.lastUse);

function validate(requests: TimedRequest[]): void {
  const names = new Set<string>();
  for (const r of requests) {
    if (!Number.isInteger(r.bytes) || r.bytes < 0) throw new Error(`buffer ${r.name}: bytes = ${r.bytes}, must be an integer >= 0`);
    if (!Number.isInteger(r.firstUse) || r.firstUse < 0) throw new Error(`buffer ${r.name}: firstUse = ${r.firstUse}, must be an integer >= 0`);
    if (!Number.isInteger(r.lastUse) || r.lastUse < r.firstUse) {
      throw new Error(`buffer ${r.name}: lastUse = ${r.lastUse}, must be an integer >= firstUse (${r.firstUse})`);
    }
    if (names.has(r.name)) throw new Error(`buffer ${r.name} requested twice`);
    names.add(r.name);
  }
}

export function planGreedy(requests: TimedRequest[], baseBytes: number): GreedyPlan {
  if (!Number.isInteger(baseBytes) || baseBytes < 0) throw new Error(`planGreedy: baseBytes = ${baseBytes}, must be an integer >= 0`);
  validate(requests);
  const start = align(baseBytes, PLAN_ALIGN_BYTES);
  const size = requests.map((r) => align(r.bytes, PLAN_ALIGN_BYTES));

  const order = requests.map((_, i) => i);
  order.sort((i, j) => {
    const a = requests[i]!, b = requests[j]!;
    if (a.bytes !== b.bytes) return b.bytes - a.bytes;
    if (a.firstUse !== b.firstUse) return a.firstUse - b.firstUse;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });

  const rel = new Array<number>(requests.length).fill(0); // offset relative to start
  const placed: number[] = [];
  for (const i of order) {
    const r = requests[i]!;
    // Conflicting placed buffers with a non-empty range, by offset; scan their gaps bottom-up.
    const blockers = placed
      .filter((j) => size[j]! > 0 && livesIntersect(r, requests[j]!))
      .sort((j, k) => rel[j]! - rel[k]!);
    let offset = 0;
    if (size[i]! > 0) {
      for (const j of blockers) {
        if (rel[j]! >= offset + size[i]!) break; // fits in the gap below j
        offset = Math.max(offset, rel[j]! + size[j]!);
      }
    }
    rel[i] = offset;
    placed.push(i);
  }

  const bytesByKind: Record<string, number> = {};
  let end = 0;
  const buffers: TimedPlacedBuffer[] = requests.map((r, i) => {
    bytesByKind[r.kind] = (bytesByKind[r.kind] ?? 0) + size[i]!;
    end = Math.max(end, rel[i]! + size[i]!);
    return { ...r, offset: start + rel[i]! };
  });

  // The live sum only rises at a firstUse, so checking those steps finds the peak.
  let peakLiveBytes = 0;
  for (const r of requests) {
    let live = 0;
    requests.forEach((q, j) => { if (q.firstUse <= r.firstUse && r.firstUse <= q.lastUse) live += size[j]!; });
    peakLiveBytes = Math.max(peakLiveBytes, live);
  }

  return { baseBytes: start, buffers, endBytes: start + end, totalBytes: end, bytesByKind, peakLiveBytes };
}
