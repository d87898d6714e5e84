// A seeded host-side generator for data the host makes (synthetic logs): xoshiro128** (Blackman
// and Vigna), seeded through splitmix32 so nearby seeds give unrelated streams. 32-bit integer
// arithmetic only (Math.imul), so every engine draws the same bits. The core has its own PCG32
// (assembly/rng.ts) for what training draws.
export class HostRng {
  private s = new Uint32Array(4);

  constructor(seed: number, stream = 0) {
    let x = (seed >>> 0) ^ Math.imul(stream >>> 0, 0x9e3779b9);
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in (0, 1): 53 random bits, never 0 or 1. */
  uniform(): number {
    const hi = this.nextU32() >>> 5, lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  /** Uniform integer in [0, bound), bound ≤ 2^32 (unbiased: rejection on the top partial range). */
  below(bound: number): number {
    if (!(Number.isInteger(bound) && bound >= 1 && bound <= 2 ** 32)) throw new RangeError(`below(${bound}): bound must be an integer in 1..2^32`);
    const limit = 2 ** 32 - (2 ** 32 % bound);
    for (;;) {
      const v = this.nextU32();
      if (v < limit) return v % bound;
    }
  }

  /** Standard normal (Box–Muller, one of the pair). */
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
