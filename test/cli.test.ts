// The `btnn` command end to end: train writes summary.json and a model file, eval reproduces the
// accuracy from the file, and bad input fails with status 2 and a message naming the value.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../src/cli/btnn.mjs', import.meta.url));
const btnn = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

t.test('train, then eval reproduces the test accuracy from the model file', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'run');
  const tr = btnn('train', '--epochs', '1', '--limit-train', '1000', '--limit-test', '300', '--max-rank', '6', '--seed', '3', '--out', out);
  t.equal(tr.status, 0, `train exits 0 (stderr: ${tr.stderr.slice(-300)})`);
  t.match(tr.stdout, /test accuracy\s+\d+\.\d+ %/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  t.equal(summary.format, 'ttm');
  t.same(summary.ranks.fc1, [1, 6, 6, 6, 1]);
  t.equal(summary.denseParams, 407050);
  t.ok(Math.abs(summary.compression - 407050 / summary.params) < 1e-9, 'compression = denseParams / params');
  t.same(readdirSync(out).sort(), ['model.safetensors', 'summary.json'], 'only the two outputs, no temp files');
  for (const threads of ['1', '2']) {
    const ev = btnn('eval', '--model', join(out, 'model.safetensors'), '--limit-test', '300', '--batch', '77', '--threads', threads, '--json');
    t.equal(ev.status, 0, `eval exits 0 (stderr: ${ev.stderr.slice(-300)})`);
    const r = JSON.parse(ev.stdout);
    t.equal(r.testAccuracy, summary.testAccuracy, `eval (batch 77, ${threads} thread(s)) reproduces testAccuracy ${summary.testAccuracy} exactly`);
  }
});

t.test('user errors exit 2 and name the bad value', async (t) => {
  const cases: [string[], RegExp][] = [
    [['train', '--epochs', 'two'], /--epochs two: must be an integer/],
    [['train', '--format', 'cpd'], /--format cpd/],
    [['train', '--lr=-1'], /--lr -1: must be a number in \(0, 1\]/],
    [['train', '--lr', '0'], /--lr 0: must be a number in \(0, 1\]/],
    [['train', '--bogus'], /bogus/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['train', '--epochs', '0x3'], /--epochs 0x3: must be an integer/],
    [['train', '--schedule', 'step'], /--schedule step: must be cosine or constant/],
    [['train', '--out', '/dev/null/x', '--limit-train', '10'], /--out \/dev\/null\/x: cannot write there/],
    [['train', '--workspace-mib', '1', '--limit-train', '10', '--out', join(tmpdir(), 'btnn-big')], /layer fc1 \(ttm\): every contraction path needs more workspace than the budget of 1048576 bytes; the leanest needs \d+ bytes/],
    [['eval'], /eval needs --model/],
    [['eval', '--model', '/nonexistent/model.safetensors'], /\/nonexistent\/model.safetensors: no such file/],
  ];
  for (const [args, message] of cases) {
    const r = btnn(...args);
    t.equal(r.status, 2, `btnn ${args.join(' ')} exits 2`);
    t.match(r.stderr, message, `btnn ${args.join(' ')}: ${r.stderr.split('\n')[0]}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'btnn-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, Buffer.from('not a model at all'));
  const r = btnn('eval', '--model', bad);
  t.equal(r.status, 2, 'a corrupt model file exits 2');
  t.match(r.stderr, /bad\.safetensors/, `names the file: ${r.stderr.split('\n')[0]}`);
});

t.test('help explains the commands and options', async (t) => {
  const r = btnn('--help');
  t.equal(r.status, 0);
  for (const word of ['train', 'eval', '--format', '--max-rank', '--seed', '--limit-train', '--out', '--threads', '--model', '--schedule']) t.match(r.stdout, word);
});

t.test('simulate prints the plan against a device budget and writes the reports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const train = btnn('simulate', '--spec', 'default', '--device', 'esp32-s3', '--mode', 'train', '--batch', '512', '--out', join(dir, 'a'));
  t.equal(train.status, 0, `exits 0 (stderr: ${train.stderr.slice(-300)})`);
  t.match(train.stdout, /does not fit: over budget by \d+ bytes/, 'training the default model at batch 512 does not fit an ESP32-S3');
  t.same(readdirSync(join(dir, 'a')).sort(), ['report.html', 'report.json', 'report.md']);
  const infer = btnn('simulate', '--spec', 'default', '--device', 'stm32h7', '--mode', 'infer', '--bits', '8', '--json');
  t.equal(infer.status, 0);
  const r = JSON.parse(infer.stdout);
  t.equal(r.fits, true, '8-bit inference of the default TTM model fits an STM32H7');
  t.equal(r.totalBytes, Object.values(r.categories as Record<string, number>).reduce((s, b) => s + b, 0), 'total = sum of categories');
  const bad = btnn('simulate', '--device', 'nope');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown device "nope": known devices are/);
  const bits = btnn('simulate', '--device', 'rpi4', '--bits', '12');
  t.equal(bits.status, 2);
  t.match(bits.stderr, /--bits 12: must be 8, 16 or 32/);
});
