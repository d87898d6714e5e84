// btnn export at 32 bits (f32), checked where the model runs: see test/helpers/export-check.ts;
// plus the module's shape (fixed memory, no imports), eval of a model.wasm, and bad input.
import t from 'tap';
import { readFileSync, writeFileSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { checkExports, tmp, root, CLI } from './helpers/export-check.js';

checkExports([32]);

t.test('the module: fixed memory, no memory.grow; eval of model.wasm in V8 matches the model file', async (t) => {
  const dir = join(tmp, 'fixture-ttm-32-wasm');
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.wasm')));
  const mod = new WebAssembly.Module(bytes);
  const mem = WebAssembly.Module.exports(mod).find((e) => e.kind === 'memory');
  t.ok(mem, 'exports its memory');
  const { instance } = await WebAssembly.instantiate(bytes);
  const memory = instance.exports.memory as WebAssembly.Memory;
  t.throws(() => memory.grow(1), 'the memory cannot grow (maximum = minimum)');
  // No memory.grow opcode (0x40 0x00) in the code: checked on the text form.
  const wat = join(dir, 'model.wat');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', '.bin', 'wasm2wat'), join(dir, 'model.wasm'), '-o', wat], { env: { ...process.env, NODE_OPTIONS: '' } });
  t.equal(r.status, 0, 'wasm2wat reads it');
  const text = readFileSync(wat, 'utf8');
  t.notOk(/memory\.grow/.test(text), 'no memory.grow in the code');
  t.notOk(/\(import /.test(text), 'no imports');
  const ev = (args: string[]): Record<string, number> => JSON.parse(spawnSync(process.execPath, [CLI, 'eval', ...args, '--limit-test', '2000', '--json'], { encoding: 'utf8' }).stdout);
  const fromWasm = ev(['--model', join(dir, 'model.wasm')]);
  const fromFile = ev(['--model', join(root, 'test', 'fixtures', 'v1', 'ttm.safetensors')]);
  t.equal(fromWasm.testSamples, 2000);
  t.ok(Math.abs(fromWasm.testAccuracy - fromFile.testAccuracy) <= 1 / 2000, `eval of model.wasm ${fromWasm.testAccuracy} vs the model file ${fromFile.testAccuracy} (other path, so at most one row may flip)`);
});

t.test('bad input: clear errors, exit 2, nothing written', async (t) => {
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'export', ...args], { encoding: 'utf8' });
  const notModel = join(tmp, 'not-a-model.safetensors');
  writeFileSync(notModel, 'hello');
  const out = join(tmp, 'bad-out');
  let r = cli(['--model', notModel, '--out', out]);
  t.equal(r.status, 2, 'not a btnn model: exit 2');
  t.match(r.stderr, /not-a-model/, 'names the file');
  t.notOk(existsSync(out), 'nothing written');
  const ttm = join(root, 'test', 'fixtures', 'v1', 'ttm.safetensors');
  r = cli(['--model', ttm, '--out', out, '--arena-bytes', '1000']);
  t.equal(r.status, 2, 'arena over --arena-bytes: exit 2');
  t.match(r.stderr, /arena needs \d+ bytes .*more than --arena-bytes 1000|every contraction path needs more workspace/, r.stderr);
  t.notOk(existsSync(out), 'nothing written');
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  r = cli(['--model', ttm, '--out', file]);
  t.equal(r.status, 2, '--out is a file: exit 2');
  t.match(r.stderr, /is a file/);
  const ro = join(tmp, 'read-only');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  r = cli(['--model', ttm, '--out', join(ro, 'sub')]);
  if (process.getuid?.() === 0) t.pass('running as root: a read-only directory is writable; skipped');
  else { t.equal(r.status, 2, 'unwritable --out: exit 2'); t.match(r.stderr, /cannot write/); }
  r = cli(['--model', ttm, '--out', join(tmp, 'proc-out'), '--target', 'arm']);
  t.equal(r.status, 2, 'unknown target: exit 2');
  t.match(r.stderr, /--target/);
  r = cli(['--model', ttm, '--out', '/proc/btnn-export']);
  t.equal(r.status, 2, 'an --out that cannot be created: exit 2');
  t.match(r.stderr, /cannot write/);
});
