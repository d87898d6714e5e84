// PCG32 stream: reproducibility, stream independence, ranges, shuffles.
import { rngSeed, rngNextU32, rngBelow, rngNormal, rngTruncNormalF32, rngShuffleI32 } from '../rng';
import { zerosF32, getF32, getI32 } from './helpers';

function draws(seed: u64, stream: u64, n: i32): u32[] {
  const rng = zerosF32(4);
  rngSeed(rng, seed, stream);
  const out = new Array<u32>(n);
  for (let i = 0; i < n; i++) out[i] = rngNextU32(rng);
  heap.free(rng);
  return out;
}

function sameCount(a: u32[], b: u32[]): i32 {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] == b[i]) same++;
  return same;
}

describe('rngSeed / rngNextU32', () => {
  it("matches PCG32's reference output (pcg32-demo: seed 42, sequence 54)", () => {
    const x = draws(42, 54, 6);
    expect<u32>(x[0]).toBe(0xa15c02b7);
    expect<u32>(x[1]).toBe(0x7b47f409);
    expect<u32>(x[2]).toBe(0xba1d3330);
    expect<u32>(x[3]).toBe(0x83d2f293);
    expect<u32>(x[4]).toBe(0xbfa4784b);
    expect<u32>(x[5]).toBe(0xcbed606e);
  });

  it('same seed and stream give the same sequence', () => {
    expect<i32>(sameCount(draws(1234, 5, 64), draws(1234, 5, 64))).toBe(64);
  });

  it('another stream or another seed gives a different sequence', () => {
    const base = draws(1234, 5, 64);
    expect<i32>(sameCount(base, draws(1234, 6, 64))).toBeLessThan(2);
    expect<i32>(sameCount(base, draws(1235, 5, 64))).toBeLessThan(2);
  });

  it('the state lives in the 16 bytes at rng (copying it forks the stream)', () => {
    const a = zerosF32(4), b = zerosF32(4);
    rngSeed(a, 9, 3);
    rngNextU32(a);
    memory.copy(b, a, 16);
    for (let i = 0; i < 10; i++) expect<u32>(rngNextU32(b)).toBe(rngNextU32(a));
  });
});

describe('rngBelow', () => {
  it('stays in [0, bound) for small, odd and huge bounds', () => {
    const rng = zerosF32(4);
    rngSeed(rng, 7, 1);
    const bounds: u32[] = [1, 2, 3, 7, 10, 1000, 0x80000001, 0xffffffff];
    for (let b = 0; b < bounds.length; b++) {
      const bound = bounds[b];
      let bad = 0;
      for (let i = 0; i < 2000; i++) if (rngBelow(rng, bound) >= bound) bad++;
      expect<i32>(bad).toBe(0, 'out of range for bound ' + bound.toString());
    }
  });

  it('hits every value of a small range', () => {
    const rng = zerosF32(4);
    rngSeed(rng, 7, 2);
    const seen = new StaticArray<i32>(10);
    for (let i = 0; i < 1000; i++) seen[rngBelow(rng, 10)]++;
    for (let v = 0; v < 10; v++) expect<i32>(seen[v]).toBeGreaterThan(50);
  });
});

/** 0..n-1 shuffled with a fresh stream. */
function shuffled(seed: u64, n: i32): usize {
  const rng = zerosF32(4), arr = zerosF32(n);
  rngSeed(rng, seed, 0);
  for (let i = 0; i < n; i++) store<i32>(arr + (<usize>i << 2), i);
  rngShuffleI32(rng, arr, n);
  return arr;
}

describe('rngShuffleI32', () => {
  it('is a permutation', () => {
    const n = 50;
    const arr = shuffled(11, n);
    const seen = new StaticArray<i32>(n);
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const v = getI32(arr, i);
      expect<bool>(v >= 0 && v < n).toBe(true, 'value in range');
      if (v >= 0 && v < n) seen[v]++;
      if (v != i) moved++;
    }
    for (let v = 0; v < n; v++) expect<i32>(seen[v]).toBe(1, 'each value once');
    expect<i32>(moved).toBeGreaterThan(n / 2);
  });

  it('same seed → same permutation, other seed → another', () => {
    const n = 50;
    const a = shuffled(11, n), b = shuffled(11, n), c = shuffled(12, n);
    let same = 0, sameC = 0;
    for (let i = 0; i < n; i++) {
      if (getI32(a, i) == getI32(b, i)) same++;
      if (getI32(a, i) == getI32(c, i)) sameC++;
    }
    expect<i32>(same).toBe(n);
    expect<i32>(sameC).toBeLessThan(n);
  });

  it('n = 0 and n = 1 are no-ops', () => {
    const rng = zerosF32(4), one = zerosF32(1);
    rngSeed(rng, 1, 1);
    store<i32>(one, 42);
    rngShuffleI32(rng, one, 1);
    rngShuffleI32(rng, one, 0);
    expect<i32>(getI32(one, 0)).toBe(42);
  });
});

describe('rngNormal / rngTruncNormalF32', () => {
  it('normals have mean ≈ 0 and variance ≈ 1 (fixed seed, 20 000 draws)', () => {
    const rng = zerosF32(4);
    rngSeed(rng, 2024, 3);
    let s: f64 = 0, s2: f64 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) { const z = rngNormal(rng); s += z; s2 += z * z; }
    expect<f64>(Math.abs(s / n)).toBeLessThan(0.05);
    expect<f64>(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
  });

  it('truncated normals stay within ±bound·std and are reproducible', () => {
    const n = 1000;
    const rng = zerosF32(4), x = zerosF32(n), y = zerosF32(n);
    rngSeed(rng, 5, 5);
    rngTruncNormalF32(rng, x, n, 0.5, 2);
    rngSeed(rng, 5, 5);
    rngTruncNormalF32(rng, y, n, 0.5, 2);
    let out = 0, diff = 0, neg = 0;
    for (let i = 0; i < n; i++) {
      const v = getF32(x, i);
      if (!(Math.abs(v) <= 1.0)) out++;
      if (v < 0) neg++;
      if (load<u32>(x + (<usize>i << 2)) != load<u32>(y + (<usize>i << 2))) diff++;
    }
    expect<i32>(out).toBe(0, 'outside ±1');
    expect<i32>(diff).toBe(0, 'bits differ after reseeding');
    expect<i32>(neg).toBeGreaterThan(400);
    expect<i32>(neg).toBeLessThan(600);
  });
});
