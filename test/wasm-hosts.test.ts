// The C test hosts (test/hosts/*.c, built by src/scripts/wasm-hosts.mjs) on the real wasm3 and
// WAMR runtimes: a stand-in model.wasm implementing the export ABI (built here from WAT with wabt)
// must give the same class and score bits on both hosts as in V8, over a few hundred seeded rows;
// `check` reproduces its baked vectors; `time` reports a per-row time; bad inputs exit 1.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import wabtInit from 'wabt';
// @ts-expect-error plain ESM script without type declarations
import { wasmHosts } from '../src/scripts/wasm-hosts.mjs';

type Hosts = { wasm3Host: string; wamrHost: string; wasm3: string; iwasm: string; skip?: undefined } | { skip: string };

const exec = promisify(execFile);

/** WAT string literal of little-endian bytes. */
const watBytes = (b: Uint8Array): string => Array.from(b, (x) => '\\' + x.toString(16).padStart(2, '0')).join('');
const f32Bytes = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
const i32Bytes = (xs: number[]): Uint8Array => new Uint8Array(new Int32Array(xs).buffer);

/**
 * Stand-in model: input 0 = 3 f32 (x0 x1 x2) at 64; with `twoInputs`, input 1 = 1 f32 (x3) at 96.
 * Scores at 128: s0 = x0*x1 + x2, s1 = x0 - x2 (+ x3); class = argmax (ties → 0).
 * `trap`: btnn_run executes unreachable. `simd`: s1 computed in f32x4 lanes (same bits; wasm3 has no SIMD).
 */
function standInWat({ twoInputs = false, trap = false, simd = false } = {}): string {
  // Baked check vectors, exact in f32: (1.5, 2, 0.25) → (3.25, 1.25) class 0; (0.5, -4, 1) → (-1, -0.5) class 1.
  const vin = twoInputs ? [[1.5, 2, 0.25, 0], [0.5, -4, 1, 0]] : [[1.5, 2, 0.25], [0.5, -4, 1]];
  const stride = vin[0].length * 4;
  return `(module
  (memory (export "memory") 1 1)
  (data (i32.const 512) "${watBytes(f32Bytes(vin.flat()))}")
  (data (i32.const 576) "${watBytes(f32Bytes([3.25, 1.25, -1, -0.5]))}")
  (data (i32.const 608) "${watBytes(i32Bytes([0, 1]))}")
  (func (export "btnn_inputs") (result i32) (i32.const ${twoInputs ? 2 : 1}))
  (func (export "btnn_input_at") (param $i i32) (result i32)
    (if (result i32) (i32.eqz (local.get $i)) (then (i32.const 64)) (else (i32.const ${twoInputs ? 96 : -1}))))
  (func (export "btnn_input_bytes_at") (param $i i32) (result i32)
    (if (result i32) (i32.eqz (local.get $i)) (then (i32.const 12)) (else (i32.const ${twoInputs ? 4 : 0}))))
  (func (export "btnn_input") (result i32) (i32.const 64))
  (func $run (export "btnn_run") (result i32)
    (local $s0 f32) (local $s1 f32)
    ${trap ? 'unreachable' : ''}
    (local.set $s0 (f32.add (f32.mul (f32.load (i32.const 64)) (f32.load (i32.const 68))) (f32.load (i32.const 72))))
    (local.set $s1 ${simd
    ? '(f32x4.extract_lane 0 (f32x4.sub (f32x4.splat (f32.load (i32.const 64))) (v128.load32_splat (i32.const 72))))'
    : '(f32.sub (f32.load (i32.const 64)) (f32.load (i32.const 72)))'})
    ${twoInputs ? '(local.set $s1 (f32.add (local.get $s1) (f32.load (i32.const 96))))' : ''}
    (f32.store (i32.const 128) (local.get $s0))
    (f32.store (i32.const 132) (local.get $s1))
    (select (i32.const 1) (i32.const 0) (f32.gt (local.get $s1) (local.get $s0))))
  (func (export "btnn_output") (result i32) (i32.const 128))
  (func (export "btnn_output_bytes") (result i32) (i32.const 8))
  (func (export "btnn_arena_bytes") (result i32) (i32.const 256))
  (func (export "btnn_check_count") (result i32) (i32.const 2))
  (func (export "btnn_check") (result i32)
    (local $k i32) (local $ok i32) (local $cls i32) (local $src i32)
    (loop $next
      (local.set $src (i32.add (i32.const 512) (i32.mul (local.get $k) (i32.const ${stride}))))
      (i64.store (i32.const 64) (i64.load (local.get $src)))
      (i32.store (i32.const 72) (i32.load offset=8 (local.get $src)))
      ${twoInputs ? '(i32.store (i32.const 96) (i32.load offset=12 (local.get $src)))' : ''}
      (local.set $cls (call $run))
      (if (i32.and
            (i64.eq (i64.load (i32.const 128)) (i64.load (i32.add (i32.const 576) (i32.shl (local.get $k) (i32.const 3)))))
            (i32.eq (local.get $cls) (i32.load (i32.add (i32.const 608) (i32.shl (local.get $k) (i32.const 2))))))
        (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
      (br_if $next (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 2))))
    (local.get $ok)))`;
}

/** Seeded rows of f32: mostly in [-4, 4), every 8th value raw finite bits (subnormals, huge, −0). */
function randomRows(rows: number, floatsPerRow: number, seed = 12345): Uint8Array {
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const u = new Uint32Array(rows * floatsPerRow);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < u.length; i++) {
    if (i % 8 === 7) {
      let bits = next();
      if (((bits >>> 23) & 0xff) === 0xff) bits &= ~(1 << 30); // no inf/NaN inputs
      u[i] = bits;
    } else {
      f[i] = (next() / 2 ** 32) * 8 - 4;
    }
  }
  f[0] = -0;
  f[1] = 2 ** -149; // smallest subnormal
  return new Uint8Array(u.buffer);
}

/** The same row loop as the hosts' `run`, in V8: per row int32 LE class + output bytes. */
async function runInV8(wasm: Uint8Array, input: Uint8Array): Promise<Buffer> {
  const { instance } = await WebAssembly.instantiate(wasm);
  const e = instance.exports as Record<string, (...a: number[]) => number> & { memory: WebAssembly.Memory };
  const n = e.btnn_inputs();
  const addr = Array.from({ length: n }, (_, i) => e.btnn_input_at(i));
  const bytes = Array.from({ length: n }, (_, i) => e.btnn_input_bytes_at(i));
  const rowBytes = bytes.reduce((a, b) => a + b, 0);
  const parts: Buffer[] = [];
  for (let off = 0; off < input.length; off += rowBytes) {
    const mem = new Uint8Array(e.memory.buffer);
    let src = off;
    for (let i = 0; i < n; i++) {
      mem.set(input.subarray(src, src + bytes[i]), addr[i]);
      src += bytes[i];
    }
    const cls = e.btnn_run();
    const head = Buffer.alloc(4);
    head.writeInt32LE(cls);
    const oa = e.btnn_output();
    parts.push(head, Buffer.from(new Uint8Array(e.memory.buffer, oa, e.btnn_output_bytes())));
  }
  return Buffer.concat(parts);
}

/** Run a binary; resolves with code, stdout, stderr (no throw on a non-zero exit). */
async function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { maxBuffer: 16 << 20, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

const hosts = (await wasmHosts()) as Hosts;
if (hosts.skip !== undefined) {
  t.skip(`wasm3/WAMR hosts: ${hosts.skip}`);
} else {
  const h = hosts;
  const dir = mkdtempSync(join(tmpdir(), 'btnn-hosts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wabt = await wabtInit();
  const build = (name: string, wat: string): { file: string; bytes: Uint8Array } => {
    const mod = wabt.parseWat(`${name}.wat`, wat, { simd: true });
    try {
      mod.validate();
      const bytes = mod.toBinary({}).buffer;
      const file = join(dir, `${name}.wasm`);
      writeFileSync(file, bytes);
      return { file, bytes };
    } finally {
      mod.destroy();
    }
  };
  const one = build('m', standInWat());
  const two = build('m2', standInWat({ twoInputs: true }));
  const trap = build('trap', standInWat({ trap: true }));
  const simd = build('simd', standInWat({ simd: true }));
  const garbage = join(dir, 'garbage.wasm');
  writeFileSync(garbage, Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff]));
  const ROWS = 301;
  const in1 = join(dir, 'in1.bin');
  const in1Bytes = randomRows(ROWS, 3);
  writeFileSync(in1, in1Bytes);
  const in2 = join(dir, 'in2.bin');
  const in2Bytes = randomRows(ROWS, 4, 777);
  writeFileSync(in2, in2Bytes);
  const truncated = join(dir, 'truncated.bin');
  writeFileSync(truncated, in1Bytes.subarray(0, in1Bytes.length - 5));
  const expected1 = await runInV8(one.bytes, in1Bytes);
  const expected2 = await runInV8(two.bytes, in2Bytes);
  const expectedSimd = await runInV8(simd.bytes, in1Bytes);

  /** First row where two OUT.bin images differ, for a readable failure. */
  const firstDiff = (a: Buffer, b: Buffer, rowBytes: number): string => {
    for (let r = 0; r * rowBytes < Math.max(a.length, b.length); r++) {
      const x = a.subarray(r * rowBytes, (r + 1) * rowBytes), y = b.subarray(r * rowBytes, (r + 1) * rowBytes);
      if (!x.equals(y)) return `row ${r}: host ${x.toString('hex')} vs V8 ${y.toString('hex')}`;
    }
    return 'identical';
  };

  for (const [name, host] of [['wasm3', h.wasm3Host], ['wamr', h.wamrHost]] as const) {
    t.test(`${name} host`, async (t) => {
      const check = await sh(host, [one.file, 'check']);
      t.equal(check.code, 0, check.stderr);
      t.equal(check.stdout.trim(), 'check 2/2');
      t.equal((await sh(host, [two.file, 'check'])).stdout.trim(), 'check 2/2', 'two-input module');

      for (const [label, mod, input, expected] of [
        ['one input', one, in1, expected1],
        ['two inputs', two, in2, expected2],
      ] as const) {
        const out = join(dir, `${name}-${label.replace(' ', '')}.out`);
        const r = await sh(host, [mod.file, 'run', input, out]);
        t.equal(r.code, 0, `${label}: run exits 0 ${r.stderr}`);
        t.equal(r.stdout.trim(), `rows ${ROWS}`, `${label}: rows`);
        const got = readFileSync(out);
        t.equal(got.length, ROWS * (4 + 8), `${label}: OUT.bin is rows × (4 + output bytes)`);
        t.ok(got.equals(expected), `${label}: classes and score bits equal V8 (${firstDiff(got, expected, 12)})`);
      }
      const simdOut = join(dir, `${name}-simd.out`);
      const sr = await sh(host, [simd.file, 'run', in1, simdOut]);
      if (name === 'wamr') {
        t.equal(sr.code, 0, `v128 module runs on WAMR ${sr.stderr}`);
        t.ok(readFileSync(simdOut).equals(expectedSimd), 'v128 module: classes and score bits equal V8');
        t.ok(expectedSimd.equals(expected1), 'v128 module: same bits as the scalar one');
      } else {
        t.equal(sr.code, 1, 'wasm3 rejects a v128 module');
        t.match(sr.stderr, /cannot load/, 'at load time');
      }
      const classes = Array.from({ length: ROWS }, (_, r) => expected1.readInt32LE(r * 12));
      t.ok(classes.includes(0) && classes.includes(1), 'both classes occur');

      const time = await sh(host, [one.file, 'time', in1, '3']);
      t.equal(time.code, 0, time.stderr);
      const m = time.stdout.match(/^ns_per_row_median (\d+(?:\.\d+)?)\s*$/);
      t.ok(m && Number(m[1]) > 0, `time prints ns_per_row_median: ${JSON.stringify(time.stdout)}`);

      const bad: [string, string[], RegExp][] = [
        ['truncated IN.bin', [one.file, 'run', truncated, join(dir, 'x.out')], /not a whole number of 12-byte rows/],
        ['wrong row size (one-input rows for two inputs)', [two.file, 'run', in1, join(dir, 'x.out')], /not a whole number/],
        ['missing module', [join(dir, 'nope.wasm'), 'check'], /cannot open .*nope\.wasm/],
        ['missing IN.bin', [one.file, 'run', join(dir, 'nope.bin'), join(dir, 'x.out')], /cannot open .*nope\.bin/],
        ['malformed module', [garbage, 'check'], /cannot load/],
        ['trap in btnn_run', [trap.file, 'run', in1, join(dir, 'x.out')], /btnn_run\(\) failed: .*unreachable/i],
        ['bad REPEATS', [one.file, 'time', in1, '0'], /REPEATS/],
        ['bad mode', [one.file, 'frobnicate'], /usage/],
      ];
      for (const [what, args, msg] of bad) {
        const r = await sh(host, args);
        t.equal(r.code, 1, `${what}: exit 1`);
        t.match(r.stderr, msg, `${what}: message on stderr`);
      }
    });
  }

  t.test('command-line runtimes run the stand-in', async (t) => {
    const w = await sh(h.wasm3, ['--func', 'btnn_check', one.file]);
    t.equal(w.code, 0, w.stderr);
    t.match(w.stdout + w.stderr, /^Result: 2\s*$/m, 'wasm3 --func btnn_check (prints its result on stderr)');
    const i = await sh(h.iwasm, ['-f', 'btnn_check', one.file]);
    t.equal(i.code, 0, i.stderr);
    t.match(i.stdout, /^0x2:i32\s*$/m, 'iwasm -f btnn_check');
  });
}
