// Model files written by btnn 0.1 (ModelSpec version 1, commit 99a6030; test/fixtures/v1) still load
// (their spec upgraded to version 2) and evaluate to exactly the accuracy, NLL and calibration
// error btnn 0.1 printed for them, including an SVI model averaged over posterior draws.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const CLI = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'main.js');
const dir = join(import.meta.dirname, 'fixtures', 'v1');

for (const name of ['ttm', 'cp', 'svi']) {
  t.test(`${name}: a version-1 model file evaluates as btnn 0.1 did`, async (t) => {
    const want = JSON.parse(readFileSync(join(dir, `${name}.eval.json`), 'utf8'));
    const args = ['eval', '--model', join(dir, `${name}.safetensors`), '--limit-test', '2000', '--json', ...(want.posteriorSamples > 1 ? ['--samples', String(want.posteriorSamples)] : [])];
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    for (const k of ['testSamples', 'testAccuracy', 'testNll', 'testEce', 'posteriorSamples', 'params', 'denseParams']) t.equal(got[k], want[k], `${k} = ${want[k]}`);
  });
}
