// Memory planner: buffers in, offsets out. It never sees layers, only named byte sizes with a
// kind (for reports), in the manner of TFLM's planner. This first planner places every buffer
// back to back (no sharing between buffers with disjoint lifetimes yet), each aligned to 16
// bytes so v128 loads of a buffer's start are aligned. The runtime allocates exactly this plan.

export type BufferKind = 'rng' | 'params' | 'grads' | 'optimizer' | 'variational' | 'activations' | 'workspace' | 'fixed' | 'batch' | 'dataset' | 'meta';

export interface BufferRequest { name: string; bytes: number; kind: BufferKind }
export interface PlacedBuffer extends BufferRequest { offset: number }

export interface MemoryPlan {
  /** First byte the plan may use (the core's static data ends before it). */
  baseBytes: number;
  buffers: PlacedBuffer[];
  /** One past the last byte used: the linear memory the runtime must have. */
  endBytes: number;
  /** Bytes used by the buffers, alignment included (endBytes − baseBytes). */
  totalBytes: number;
  bytesByKind: Record<string, number>;
}

export const PLAN_ALIGN_BYTES = 16;
const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function planMemory(requests: BufferRequest[], baseBytes: number): MemoryPlan {
  const names = new Set<string>();
  let cursor = align(baseBytes, PLAN_ALIGN_BYTES);
  const start = cursor;
  const buffers: PlacedBuffer[] = [];
  const bytesByKind: Record<string, number> = {};
  for (const r of requests) {
    if (!Number.isInteger(r.bytes) || r.bytes < 0) throw new Error(`buffer ${r.name}: bytes = ${r.bytes}, must be an integer >= 0`);
    if (names.has(r.name)) throw new Error(`buffer ${r.name} requested twice`);
    names.add(r.name);
    buffers.push({ ...r, offset: cursor });
    const placed = align(r.bytes, PLAN_ALIGN_BYTES);
    bytesByKind[r.kind] = (bytesByKind[r.kind] ?? 0) + placed;
    cursor += placed;
  }
  return { baseBytes: start, buffers, endBytes: cursor, totalBytes: cursor - start, bytesByKind };
}

export function findBuffer(plan: MemoryPlan, name: string): PlacedBuffer {
  const b = plan.buffers.find((x) => x.name === name);
  if (!b) throw new Error(`memory plan has no buffer ${name}`);
  return b;
}
