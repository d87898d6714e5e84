// simulate --mode infer tells the truth about deployment: its flash (constants, program) and RAM
// (arena) figures are the exported module's own, byte for byte, at 32, 16 and 8 bits, on devices
// with flash (stm32h7, cortex-m4) and without; a device too small gets exit 3 and the biggest
// consumer named.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { initialise } from '../src/runtime/init.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { saveModel } from '../src/model/file.js';
import type { ModelSpec } from '../src/spec/types.js';
import { exportModel } from '../src/export/export.js';
import { simulate } from '../hw-sim/simulate.js';
import { loadDevice } from '../hw-sim/devices.js';

const CLI = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'btnn-deploy-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const core = await loadCore('node');
const spec: ModelSpec = { ...defaultSpec('tt', 6), inputs: [{ name: 'x', dtype: 'u8', shape: [784], range: 255 }], inputNorm: { mean: 0.13, std: 0.31 } };
const rt = new Runtime(core, spec, 1, 'infer');
initialise(rt, 4);
const model = join(tmp, 'model.safetensors');
saveModel(model, spec, (n) => rt.tensor(n).slice());

for (const bits of [32, 16, 8] as const) {
  t.test(`${bits} bits: simulate's deployment equals the exported module`, async (t) => {
    const dir = join(tmp, `out-${bits}`);
    await exportModel(model, { out: dir, bits, testVectors: 4, calibrate: 32 });
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    for (const device of ['stm32h7', 'cortex-m4', 'rpi4']) {
      const d = simulate({ spec, device: loadDevice(device), mode: 'infer', bits, batch: 1 }).deployment!;
      for (const k of ['weightsBytes', 'tablesBytes', 'programBytes', 'arenaBytes'] as const) t.equal(d[k], json[k], `${device}: ${k} = model.json's ${json[k]}`);
      const flash = loadDevice(device).memory.some((m) => m.kind === 'flash');
      const constBytes = json.weightsBytes + json.tablesBytes + json.programBytes;
      const counted = flash ? d.flashBytes : d.ramBytes - json.arenaBytes;
      t.ok(counted >= constBytes && counted < constBytes + 32, `${device}: constants ${counted} bytes (${constBytes} + alignment) ${flash ? 'in flash' : 'in RAM'}`);
      if (flash) t.equal(d.ramBytes, json.arenaBytes, `${device}: RAM = the arena`);
      else t.equal(d.flashBytes, 0, `${device}: no flash`);
    }
  });
}

t.test('a device too small: exit 3, the biggest consumer named', async (t) => {
  const dev = structuredClone(loadDevice('cortex-m4'));
  dev.id = 'tiny-m0';
  dev.budgetBytes = 4096;
  dev.memory = dev.memory.map((m) => ({ ...m, bytes: Math.min(m.bytes, 4096) }));
  const file = join(tmp, 'tiny.json');
  writeFileSync(file, JSON.stringify(dev));
  const r = spawnSync(process.execPath, [CLI, 'simulate', '--device-file', file, '--device', 'tiny-m0', '--model', model, '--mode', 'infer', '--bits', '8'], { encoding: 'utf8' });
  t.equal(r.status, 3, `exit 3 ${r.stderr}`);
  t.match(r.stdout, /does not fit/);
  t.match(r.stdout, /biggest consumer of (flash|RAM): .+ \(\d+ bytes\)/);
  const ok = spawnSync(process.execPath, [CLI, 'simulate', '--device', 'stm32h7', '--model', model, '--mode', 'infer', '--bits', '8'], { encoding: 'utf8' });
  t.equal(ok.status, 0, 'fits stm32h7: exit 0');
});

t.test('--fit --max-drop: the rank answer is evaluated, fits, and its drop is within P', async (t) => {
  const fixture = join(import.meta.dirname, 'fixtures', 'v1', 'ttm.safetensors');
  const fit = (device: string[], p: string) => spawnSync(process.execPath, [CLI, 'simulate', '--fit', '--model', fixture, '--mode', 'infer', ...device, '--max-drop', p, '--limit-test', '300', '--bits', '8', '--json'], { encoding: 'utf8' });
  const loose = fit(['--device', 'cortex-m4'], '100');
  t.equal(loose.status, 0, loose.stderr.slice(-300));
  const a = JSON.parse(loose.stdout);
  t.equal(a.fit[0].maxRank, 3, 'everything fits and any drop is within 100 points: the model\'s own max rank (3)');
  t.match(loose.stderr, /8-bit, max rank 3: fits, [\d.]+ % \(drop -?[\d.]+ points\)/, 'evaluated, with progress');
  const strict = fit(['--device', 'cortex-m4'], '0');
  const b = JSON.parse(strict.stdout);
  t.ok(b.fit[0].maxRank === 0 || b.fit[0].dropPoints <= 0, `with P = 0 the answer's drop is ≤ 0 (${JSON.stringify(b.fit[0])})`);
  const usage = spawnSync(process.execPath, [CLI, 'simulate', '--model', fixture, '--device', 'cortex-m4', '--max-drop', '1'], { encoding: 'utf8' });
  t.equal(usage.status, 2, '--max-drop without --fit: exit 2');
  t.match(usage.stderr, /--max-drop P goes with --fit --model FILE --mode infer/);
});
