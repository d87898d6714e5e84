// Seeded random numbers: PCG32 (O'Neill, XSH-RR 64→32). The 16-byte state (u64 state, u64
// increment) lives in linear memory at `rng`, so a checkpoint that saves memory saves the stream,
// and every flavour and runtime draws the same bits. Normals use the module's own software math,
// deterministic across runtimes: Box–Muller in f64 for initialisation, the polar method in f32
// with vmath's logf for the sampler's per-step draws.

import { logf, logf4 } from './vmath';

export const PCG_MULT: u64 = 6364136223846793005;

/** PCG32's output for the state before the step (XSH-RR); the step is state·PCG_MULT + increment. */
// @ts-ignore: decorator
@inline export function pcgOutput(old: u64): u32 {
  const xorshifted = <u32>(((old >> 18) ^ old) >> 27);
  const rot = <u32>(old >> 59);
  return rotr<u32>(xorshifted, rot);
}

// @ts-ignore: decorator
@inline function nextU32(rng: usize): u32 {
  const old = load<u64>(rng);
  store<u64>(rng, old * PCG_MULT + load<u64>(rng, 8));
  return pcgOutput(old);
}

/** Seed a stream (PCG's srandom_r): distinct `stream` values give independent sequences. */
export function rngSeed(rng: usize, seed: u64, stream: u64): void {
  store<u64>(rng, 0);
  store<u64>(rng, (stream << 1) | 1, 8);
  nextU32(rng);
  store<u64>(rng, load<u64>(rng) + seed);
  nextU32(rng);
}

export function rngNextU32(rng: usize): u32 {
  return nextU32(rng);
}

/** Uniform integer in [0, bound), unbiased (Lemire's multiply-and-reject). bound ≥ 1. */
export function rngBelow(rng: usize, bound: u32): u32 {
  let m = <u64>nextU32(rng) * <u64>bound;
  let low = <u32>m;
  if (low < bound) {
    const threshold: u32 = (<u32>0 - bound) % bound;
    while (low < threshold) {
      m = <u64>nextU32(rng) * <u64>bound;
      low = <u32>m;
    }
  }
  return <u32>(m >> 32);
}

// @ts-ignore: decorator
@inline function uniformOpen(rng: usize): f64 {
  // 53 random bits → (0, 1]: never 0, so log() is finite.
  const hi = <u64>(nextU32(rng) >> 5), lo = <u64>(nextU32(rng) >> 6);
  return (<f64>((hi << 26) | lo) + 1.0) * (1.0 / 9007199254740992.0);
}

/** One standard normal draw (Box–Muller, one of the pair; simple and stream-position stable). */
export function rngNormal(rng: usize): f64 {
  const u1 = uniformOpen(rng), u2 = uniformOpen(rng);
  return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
}

// @ts-ignore: decorator
@inline function signedUnit(rng: usize): f32 {
  // 32 random bits as a signed integer, scaled to [−1, 1] (the conversion rounds to 24 bits).
  return <f32><i32>nextU32(rng) * <f32>4.656612873077393e-10; // 2^-31
}

/**
 * n standard normals into f32 `out` by Marsaglia's polar method in f32: a pair (u, v) uniform on
 * [−1, 1]² from two draws, kept when 0 < q = u² + v² < 1, gives u·f and v·f with
 * f = √(−2 ln q / q) (vmath's logf): one log and one sqrt per two normals, no trigonometry. The
 * variational sampler draws one per factor entry every step. With SIMD, four pairs go through the
 * log at once and the kept ones are stored in pair order, the scalar path's values bit for bit;
 * batches run only while 8 or more values remain, so both paths draw the same pairs and leave the
 * stream in the same state.
 */
export function rngNormalsF32(rng: usize, out: usize, n: i32): void {
  let i = 0, rejects = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1.0), zero = f32x4.splat(0), m2 = f32x4.splat(-2.0);
    while (n - i >= 8) {
      let u = f32x4.splat(0), v = f32x4.splat(0);
      u = f32x4.replace_lane(u, 0, signedUnit(rng)); v = f32x4.replace_lane(v, 0, signedUnit(rng));
      u = f32x4.replace_lane(u, 1, signedUnit(rng)); v = f32x4.replace_lane(v, 1, signedUnit(rng));
      u = f32x4.replace_lane(u, 2, signedUnit(rng)); v = f32x4.replace_lane(v, 2, signedUnit(rng));
      u = f32x4.replace_lane(u, 3, signedUnit(rng)); v = f32x4.replace_lane(v, 3, signedUnit(rng));
      const q = f32x4.add(f32x4.mul(u, u), f32x4.mul(v, v));
      const keep = v128.and(f32x4.lt(q, one), f32x4.ne(q, zero));
      const f = f32x4.sqrt(f32x4.div(f32x4.mul(m2, logf4(q)), q));
      const uf = f32x4.mul(u, f), vf = f32x4.mul(v, f);
      const mask = i32x4.bitmask(keep);
      if (mask == 0) {
        // An unseeded (all-zero) state repeats one draw forever: trap rather than hang.
        if (++rejects > 250) unreachable();
        continue;
      }
      rejects = 0;
      let o = out + (<usize>i << 2);
      if (mask & 1) { store<f32>(o, f32x4.extract_lane(uf, 0)); store<f32>(o, f32x4.extract_lane(vf, 0), 4); o += 8; }
      if (mask & 2) { store<f32>(o, f32x4.extract_lane(uf, 1)); store<f32>(o, f32x4.extract_lane(vf, 1), 4); o += 8; }
      if (mask & 4) { store<f32>(o, f32x4.extract_lane(uf, 2)); store<f32>(o, f32x4.extract_lane(vf, 2), 4); o += 8; }
      if (mask & 8) { store<f32>(o, f32x4.extract_lane(uf, 3)); store<f32>(o, f32x4.extract_lane(vf, 3), 4); o += 8; }
      i += <i32>popcnt<i32>(mask) << 1;
    }
  }
  while (i < n) {
    const u = signedUnit(rng), v = signedUnit(rng);
    const q = u * u + v * v;
    if (!(q < 1.0) || q == 0.0) {
      if (++rejects > 1000) unreachable();
      continue;
    }
    rejects = 0;
    const f = Mathf.sqrt(-2.0 * logf(q) / q);
    store<f32>(out + (<usize>i << 2), u * f);
    if (i + 1 < n) store<f32>(out + (<usize>(i + 1) << 2), v * f);
    i += 2;
  }
}

/** out[i] ~ N(0, std²) truncated to ±bound·std by rejection (METHOD.md §3.7). */
export function rngTruncNormalF32(rng: usize, out: usize, n: i32, std: f32, bound: f32): void {
  for (let i = 0; i < n; i++) {
    let z = rngNormal(rng);
    while (Math.abs(z) > <f64>bound) z = rngNormal(rng);
    store<f32>(out + (<usize>i << 2), <f32>(z * <f64>std));
  }
}

/** Fisher–Yates shuffle of n i32 values in place. */
export function rngShuffleI32(rng: usize, arr: usize, n: i32): void {
  for (let i = n - 1; i > 0; i--) {
    const j = <i32>rngBelow(rng, <u32>(i + 1));
    const pi = arr + (<usize>i << 2), pj = arr + (<usize>j << 2);
    const t = load<i32>(pi);
    store<i32>(pi, load<i32>(pj));
    store<i32>(pj, t);
  }
}
