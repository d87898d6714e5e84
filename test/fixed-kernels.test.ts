// Fixed-point kernels (assembly/fixed.ts) on every flavour, bit for bit against the hw-sim golden
// model: dotI16 (tails, extremes, int32 wrap), requantI32ToI16 (both roundings, every shift, exact
// ties, saturation) and q15MulrSatI16 (random pairs, (−32768)² saturation).
import t, { type Test } from 'tap';
import { loadCore, FLAVOURS, type Core } from '../src/core/wasm.js';
import {
  dotI16, requantize, q15MulrSat, newCounters, INT32_MIN, INT32_MAX, type QFormat, type Rounding,
} from '../hw-sim/fixed/fixed-point.js';

interface FixedExports {
  heapBase(): number;
  dotI16(a: number, b: number, n: number): number;
  requantI32ToI16(out: number, acc: number, n: number, shift: number, mode: number): void;
  q15MulrSatI16(out: number, a: number, b: number, n: number): void;
}

const Q16: QFormat = { bits: 16, frac: 0 };
const MODES: [number, Rounding][] = [[0, 'nearest-even'], [1, 'truncate']];
const MAX_REPORTED = 10;

/** Seeded LCG over u32 (Numerical Recipes constants). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
}

/** Random int16, one in eight an extreme (±32767, −32768). */
function randI16(rnd: () => number): number {
  const r = rnd();
  if ((r & 7) === 0) return [32767, -32767, -32768][(r >>> 3) % 3];
  return (r >>> 16) - 32768;
}

const fx = (core: Core): FixedExports => core.exports as unknown as FixedExports;

/** Lays out consecutive 16-byte-aligned regions above heapBase, growing memory if needed. */
function place(core: Core, bytes: number[]): number[] {
  const addrs: number[] = [];
  let p = Math.ceil(fx(core).heapBase() / 16) * 16;
  for (const b of bytes) { addrs.push(p); p += Math.ceil(b / 16) * 16; }
  const have = core.memory.buffer.byteLength;
  if (p > have) core.memory.grow(Math.ceil((p - have) / 65536));
  return addrs;
}

/** Collects mismatches; reports the first few (index, inputs, expected, actual) and their count. */
class Mismatches {
  count = 0;
  constructor(private t: Test, private what: string) {}
  check(i: number, inputs: string, expected: number, actual: number): void {
    if (expected === actual) return;
    if (++this.count <= MAX_REPORTED) this.t.fail(`${this.what}: index ${i}, ${inputs}: expected ${expected}, actual ${actual}`);
  }
  done(): void { this.t.equal(this.count, 0, `${this.what}: mismatches`); }
}

function runDot(core: Core, a: Int16Array, b: Int16Array): number {
  const n = a.length;
  const [pa, pb] = place(core, [n * 2, n * 2]);
  new Int16Array(core.memory.buffer, pa, n).set(a);
  new Int16Array(core.memory.buffer, pb, n).set(b);
  return fx(core).dotI16(pa, pb, n);
}

function runRequant(core: Core, acc: Int32Array, shift: number, mode: number): Int16Array {
  const n = acc.length;
  const [pacc, pout] = place(core, [n * 4, n * 2]);
  new Int32Array(core.memory.buffer, pacc, n).set(acc);
  new Int16Array(core.memory.buffer, pout, n).fill(0x5a5a);
  fx(core).requantI32ToI16(pout, pacc, n, shift, mode);
  return new Int16Array(core.memory.buffer, pout, n).slice();
}

function runQ15(core: Core, a: Int16Array, b: Int16Array): Int16Array {
  const n = a.length;
  const [pa, pb, pout] = place(core, [n * 2, n * 2, n * 2]);
  new Int16Array(core.memory.buffer, pa, n).set(a);
  new Int16Array(core.memory.buffer, pb, n).set(b);
  new Int16Array(core.memory.buffer, pout, n).fill(0x5a5a);
  fx(core).q15MulrSatI16(pout, pa, pb, n);
  return new Int16Array(core.memory.buffer, pout, n).slice();
}

/** Accumulators for one shift: random int32, values near the int16 range, exact ties, saturating ones. */
function requantInputs(rnd: () => number, shift: number): Int32Array {
  const vals: number[] = [0, 1, -1, INT32_MAX, INT32_MIN, 2 ** (shift - 1), -(2 ** (shift - 1))];
  const fits = (v: number): boolean => v >= INT32_MIN && v <= INT32_MAX;
  // Largest in-range results and the first out-of-range ones, with and without a tie.
  for (const q of [32767, 32768, -32768, -32769, 32766, -32767]) {
    for (const r of [0, 2 ** (shift - 1) - 1, 2 ** (shift - 1), 2 ** shift - 1]) {
      const v = q * 2 ** shift + r;
      if (fits(v)) vals.push(v);
    }
  }
  for (let i = 0; i < 40; i++) vals.push(rnd() | 0);
  for (let i = 0; i < 40; i++) { // q in about ±40000 with random discarded bits
    const v = ((rnd() % 80001) - 40000) * 2 ** shift + (rnd() % 2 ** shift);
    if (fits(v)) vals.push(v);
  }
  const maxOdd = 2 ** (32 - shift) - 1; // |(2k+1)·2^(shift−1)| < 2^31
  for (let i = 0; i < 40; i++) {
    const span = i < 20 ? Math.min(maxOdd, 200001) : maxOdd; // half near zero, half anywhere
    let m = (rnd() % (span + 1)) | 1;
    if (m > maxOdd) m = maxOdd;
    vals.push((rnd() & 1 ? -m : m) * 2 ** (shift - 1));
  }
  return Int32Array.from(vals);
}

for (const flavour of FLAVOURS) {
  t.test(`${flavour}: fixed-point kernels match hw-sim bit for bit`, async (t) => {
    const core = await loadCore(flavour);

    t.test('dotI16', async (t) => {
      const rnd = lcg(0xd07);
      const mm = new Mismatches(t, `${flavour} dotI16`);
      const lengths = [0, 1, 7, 8, 9, 15, 16, 17, 1000];
      for (let i = 0; i < 20; i++) lengths.push(rnd() % 3000);
      const cases: [Int16Array, Int16Array][] = lengths.map((n) => [
        Int16Array.from({ length: n }, () => randI16(rnd)), Int16Array.from({ length: n }, () => randI16(rnd)),
      ]);
      // (−32768)² = 2^30 each: the int32 sum wraps, on the SIMD lanes (n ≥ 8) and in the scalar tail.
      for (const n of [2, 3, 8, 9, 1000, 1003]) cases.push([new Int16Array(n).fill(-32768), new Int16Array(n).fill(-32768)]);
      cases.push([new Int16Array(1001).fill(32767), new Int16Array(1001).fill(-32768)]);
      let wraps = 0;
      cases.forEach(([a, b], c) => {
        const counters = newCounters();
        const expected = dotI16(a, b, counters);
        wraps += counters.overflows;
        mm.check(c, `n = ${a.length}, a[0..3] = [${a.slice(0, 3).join(', ')}], b[0..3] = [${b.slice(0, 3).join(', ')}]`,
          expected, runDot(core, a, b));
      });
      t.ok(wraps >= 5, `the wrap cases overflow int32 (${wraps} overflowed)`);
      t.equal(runDot(core, Int16Array.of(3, -4, 5), Int16Array.of(7, 11, -2)), 21 - 44 - 10, 'hand-worked n = 3');
      mm.done();
    });

    t.test('requantI32ToI16', async (t) => {
      const rnd = lcg(0x2e9);
      for (const [mode, rounding] of MODES) {
        const mm = new Mismatches(t, `${flavour} requantI32ToI16 ${rounding}`);
        for (let shift = 1; shift <= 31; shift++) {
          const acc = requantInputs(rnd, shift);
          for (const n of [acc.length, 0, 1, 7, 8, 9, 17]) {
            const part = acc.subarray(0, n);
            const got = runRequant(core, part, shift, mode);
            for (let i = 0; i < n; i++) {
              mm.check(i, `n = ${n}, shift = ${shift}, acc = ${part[i]}`,
                requantize(part[i], shift, Q16, rounding, newCounters()), got[i]);
            }
          }
        }
        mm.done();
      }
      const ties = Int32Array.of(3, 5, -3, -5, 1, -1, 7, 6);
      t.same(Array.from(runRequant(core, ties, 1, 0)), [2, 2, -2, -2, 0, 0, 4, 3], 'hand-worked ties, shift 1, nearest-even');
      t.same(Array.from(runRequant(core, ties, 1, 1)), [1, 2, -2, -3, 0, -1, 3, 3], 'hand-worked, shift 1, truncate');
    });

    t.test('q15MulrSatI16', async (t) => {
      const rnd = lcg(0x015);
      const mm = new Mismatches(t, `${flavour} q15MulrSatI16`);
      const special = [[-32768, -32768], [-32768, 32767], [32767, -32768], [32767, 32767], [-32768, 1], [1, 1],
        [-1, 1], [16384, 1], [16384, -1], [-16384, 1], [0, -32768], [-32768, -32767]];
      const n = 1003;
      const a = new Int16Array(n), b = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        [a[i], b[i]] = i < special.length ? special[i] : [randI16(rnd), randI16(rnd)];
      }
      a[n - 1] = b[n - 1] = -32768; // also in the scalar tail
      for (const len of [n, 0, 1, 7, 8, 9, 17]) {
        const got = runQ15(core, a.subarray(0, len), b.subarray(0, len));
        for (let i = 0; i < len; i++) {
          mm.check(i, `n = ${len}, a = ${a[i]}, b = ${b[i]}`, q15MulrSat(a[i], b[i], newCounters()), got[i]);
        }
      }
      t.equal(runQ15(core, Int16Array.of(-32768), Int16Array.of(-32768))[0], 32767, '(−32768)² saturates to 32767');
      mm.done();
    });
  });
}
