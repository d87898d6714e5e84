// `btnn simulate --mode train` reports what `btnn train` allocates: for every format, with the
// same batch and lanes, the simulator's 32-bit plan (hw-sim, through src/prepare) places the same
// buffers at the same offsets with the same sizes as the runtime's plan, byte for byte (the
// runtime adds only the dataset's shuffle order, and starts after the core's static data).
import t from 'tap';
import { loadCore } from '../src/core/wasm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { FORMATS } from '../src/spec/formats.js';
import { simulate } from '../hw-sim/simulate.js';
import { loadDevice } from '../hw-sim/devices.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSpec } from '../src/spec/validate.js';

const device = { ...loadDevice('rpi4'), budgetBytes: 2 ** 40 }; // never re-planned under a budget

t.test('simulate = train allocation, every format, several batches and lanes', async (t) => {
  const core = await loadCore('node');
  const mixed = validateSpec(JSON.parse(readFileSync(join(import.meta.dirname, '..', 'examples', 'mlp-mixed.json'), 'utf8')));
  const specs = [...FORMATS.map((f) => [f, defaultSpec(f)] as const), ['examples/mlp-mixed.json', mixed] as const];
  for (const [name, spec] of specs) {
    for (const [batch, lanes, mode] of [[128, 4, 'train'], [30, 2, 'train'], [1, 1, 'infer'], [64, 4, 'infer']] as const) {
      const rt = new Runtime(core, spec, batch, mode, { lanes });
      const sim = simulate({ spec, device, mode, bits: 32, batch, lanes });
      const base = rt.plan.baseBytes;
      const ours = rt.plan.buffers.map((b) => `${b.name}@${b.offset - base}+${b.bytes}`);
      const theirs = sim.buffers.map((b) => `${b.name}@${b.offset}+${b.bytes}`);
      t.same(theirs, ours, `${name} ${mode} batch ${batch}, ${lanes} lanes: ${ours.length} buffers, same offsets and sizes`);
      t.equal(sim.totalBytes, rt.plan.totalBytes, `${name} ${mode} batch ${batch}, ${lanes} lanes: ${sim.totalBytes} bytes in both`);
    }
  }
});
