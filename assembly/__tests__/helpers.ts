// Raw-memory helpers for the core's specs. The kernels take byte addresses, so the specs hand them
// blocks from the (test-only) heap; nothing here is part of the core.

/** `n` zeroed f32s (at least one, so distinct calls never alias). */
export function zerosF32(n: i32): usize {
  const bytes = <usize>max(n, 1) << 2;
  const p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

/** A copy of `values` as raw f32s. */
export function f32s(values: f32[]): usize {
  const p = zerosF32(values.length);
  for (let i = 0; i < values.length; i++) store<f32>(p + (<usize>i << 2), values[i]);
  return p;
}

/** A copy of `values` as raw i32s. */
export function i32s(values: i32[]): usize {
  const p = zerosF32(values.length);
  for (let i = 0; i < values.length; i++) store<i32>(p + (<usize>i << 2), values[i]);
  return p;
}

/** A copy of `values` as raw bytes. */
export function u8s(values: u8[]): usize {
  const p = heap.alloc(<usize>max(values.length, 1));
  for (let i = 0; i < values.length; i++) store<u8>(p + <usize>i, values[i]);
  return p;
}

export function getF32(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
export function setF32(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }
export function bitsF32(p: usize, i: i32): u32 { return load<u32>(p + (<usize>i << 2)); }
export function getI32(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

/** Expect `n` f32s at `p` to equal `values` exactly (same value; ±0 compare equal). */
export function expectF32s(p: usize, values: f32[], what: string): void {
  for (let i = 0; i < values.length; i++) {
    expect<f32>(getF32(p, i)).toBe(values[i], what + '[' + i.toString() + ']');
  }
}

/** |x − ref| ≤ tol·(1 + |ref|). */
export function near(x: f64, ref: f64, tol: f64): bool {
  return Math.abs(x - ref) <= tol * (1 + Math.abs(ref));
}

export function free(p: usize): void { heap.free(p); }
