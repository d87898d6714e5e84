// The edge flavours of the core, run outside V8: wabt's interpreter (npm `wabt`, its C++ interpreter
// compiled to JS, so its float semantics do not come from V8) must pass the core's self-test and
// produce the same output checksum as the node flavour in V8. Also checks the flavours' shape:
// edge modules import nothing, edge-scalar has no v128 code (wasm3 stand-in), edge-simd has some.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

const NODE = join(build, 'btnn.node.wasm');
const EDGE = {
  'edge-scalar': join(build, 'btnn.edge-scalar.wasm'),
  'edge-simd': join(build, 'btnn.edge-simd.wasm'),
} as const;

const missing = [NODE, ...Object.values(EDGE)].filter((f) => !existsSync(f));
const skip = missing.length ? `build/ is missing ${missing.map((f) => f.slice(build.length + 1)).join(', ')}: run npm run asbuild` : false;

/**
 * Run a wabt tool (emscripten JS) with this Node. Children get no NODE_OPTIONS (tap's loaders only
 * slow them down). Keep outputs small: emscripten writes stdout non-blocking and drops output
 * when a pipe fills (`fwrite … errno=6`), so large outputs go to a file (see watOf).
 */
async function wabt(tool: string, args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [bin(tool), ...args], {
    maxBuffer: 64 << 20,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return stdout;
}

/** wasm2wat text of a module, via a temporary file. */
async function watOf(file: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-wat-'));
  try {
    const out = join(dir, 'm.wat');
    await wabt('wasm2wat', [file, '-o', out]);
    return readFileSync(out, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `wasm-interp file -r fn` → the i32 result as wasm-interp prints it (`fn() => i32:N`, N unsigned).
 */
async function interpI32(file: string, fn: string, extra: string[] = []): Promise<number> {
  const out = await wabt('wasm-interp', [...extra, file, '-r', fn]);
  const m = out.match(new RegExp(`^${fn}\\(\\) => i32:(\\d+)\\s*$`, 'm'));
  if (!m) throw new Error(`unexpected wasm-interp output for ${fn}: ${JSON.stringify(out)}`);
  return Number(m[1]);
}

interface Core {
  selftest(): number;
  selftestChecksum(): number;
}

async function instantiateV8(file: string): Promise<Core> {
  // The node flavour imports a shared memory (for worker threads); the edge flavours import nothing.
  const imports = {
    env: {
      memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }),
      abort(msg: number, fileName: number, line: number, col: number): never {
        throw new Error(`core aborted (${msg}, ${fileName}, ${line}:${col})`);
      },
    },
  };
  const { instance } = await WebAssembly.instantiate(readFileSync(file), imports);
  return instance.exports as unknown as Core;
}

function hasV128(wat: string): boolean {
  return /\bv128\b|\bf32x4\.|\bi32x4\.|\bi16x8\.|\bi8x16\.|\bf64x2\.|\bi64x2\./.test(wat);
}

t.test('node flavour in V8 (reference checksum)', { skip }, async (t) => {
  const core = await instantiateV8(NODE);
  t.equal(core.selftest(), 0, 'selftest() = 0');
  t.not(core.selftestChecksum() >>> 0, 0, 'checksum is not trivially 0');
});

for (const [flavour, file] of Object.entries(EDGE)) {
  t.test(`${flavour} in wabt's wasm-interp`, { skip }, async (t) => {
    const reference = (await instantiateV8(NODE)).selftestChecksum() >>> 0;
    t.equal(await interpI32(file, 'selftest'), 0, 'selftest() => i32:0');
    t.equal(await interpI32(file, 'selftestChecksum'), reference, 'checksum equals node flavour in V8');
  });

  t.test(`${flavour} in V8`, { skip }, async (t) => {
    const reference = (await instantiateV8(NODE)).selftestChecksum() >>> 0;
    const mod = new WebAssembly.Module(readFileSync(file));
    t.same(WebAssembly.Module.imports(mod), [], 'no imports');
    const core = (await WebAssembly.instantiate(mod, {})).exports as unknown as Core;
    t.equal(core.selftest(), 0, 'selftest() = 0');
    t.equal(core.selftestChecksum() >>> 0, reference, 'checksum equals node flavour');
  });
}

t.test('flavour instruction sets', { skip }, async (t) => {
  const scalarWat = await watOf(EDGE['edge-scalar']);
  const simdWat = await watOf(EDGE['edge-simd']);
  t.match(scalarWat, /^\(module/, 'edge-scalar disassembles');
  t.match(simdWat, /^\(module/, 'edge-simd disassembles');
  t.notOk(hasV128(scalarWat), 'edge-scalar has no v128 / f32x4 / i32x4 instruction');
  t.ok(hasV128(simdWat), 'edge-simd has v128 instructions');
  // wasm3 stand-in: an interpreter with SIMD switched off still loads and passes edge-scalar.
  t.equal(await interpI32(EDGE['edge-scalar'], 'selftest', ['--disable-simd']), 0, 'edge-scalar passes with --disable-simd');
  const rejected = await interpI32(EDGE['edge-simd'], 'selftest', ['--disable-simd']).then(
    () => '',
    (e: { stderr?: string; stdout?: string; message?: string }) => `${e.stderr ?? ''}${e.stdout ?? ''}${e.message ?? ''}`,
  );
  // wabt stops at the first SIMD item it meets: a v128 local ("expected valid local type") or a SIMD opcode.
  t.match(rejected, /opcode|expected valid local type/, 'edge-simd is rejected (a v128 local or SIMD opcode) with --disable-simd');
});
