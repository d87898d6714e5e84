// `btnn selftest`: the core's built-in kernel self-test on one flavour.
import { loadCore } from '../core/wasm.js';
import { COMMON, flavourOption, type Command, type Values } from './options.js';

async function run(values: Values): Promise<number> {
  const core = await loadCore(flavourOption(values));
  const status = core.exports.selftest();
  const checksum = core.exports.selftestChecksum() >>> 0;
  console.log(`selftest ${core.flavour}: ${status === 0 ? 'ok' : `FAILED check ${status}`} (checksum ${checksum.toString(16)})`);
  return status === 0 ? 0 : 1;
}

export const SELFTEST: Command = {
  name: 'selftest',
  summary: 'run the core\'s built-in kernel self-test (exit 1 if a check fails)',
  usage: 'btnn selftest [--flavour node|edge-simd|edge-scalar]',
  options: { flavour: COMMON.flavour },
  run: (values) => run(values),
};
