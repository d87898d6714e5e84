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
  t.same(readdirSync(out).sort(), ['metrics.jsonl', 'model.safetensors', 'report.html', 'summary.json'], 'only the four outputs, no temp files');
  for (const batch of ['77', '256']) {
    const ev = btnn('eval', '--model', join(out, 'model.safetensors'), '--limit-test', '300', '--batch', batch, '--json');
    t.equal(ev.status, 0, `eval exits 0 (stderr: ${ev.stderr.slice(-300)})`);
    const r = JSON.parse(ev.stdout);
    t.equal(r.testAccuracy, summary.testAccuracy, `eval (batch ${batch}) reproduces testAccuracy ${summary.testAccuracy} exactly`);
  }
});

t.test('svi: train, eval with posterior samples (accuracy, NLL, ECE), inspect, planted-rank JSON', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-svi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'run');
  const tr = btnn('train', '--inference', 'svi', '--kl', '1e-3', '--epochs', '2', '--limit-train', '1500', '--limit-test', '300', '--max-rank', '6', '--seed', '3', '--out', out);
  t.equal(tr.status, 0, `train exits 0 (stderr: ${tr.stderr.slice(-300)})`);
  t.match(tr.stderr, /ARD svi, log-uniform prior, κ=0\.001/);
  const model = join(out, 'model.safetensors');
  const mean = JSON.parse(btnn('eval', '--model', model, '--limit-test', '300', '--json').stdout);
  const many = JSON.parse(btnn('eval', '--model', model, '--limit-test', '300', '--samples', '8', '--json').stdout);
  t.equal(mean.posteriorSamples, 1);
  t.equal(many.posteriorSamples, 8);
  for (const r of [mean, many]) {
    t.ok(r.testAccuracy > 0.3 && r.testNll > 0 && r.testEce >= 0 && r.testEce < 1, `accuracy ${r.testAccuracy}, NLL ${r.testNll}, ECE ${r.testEce}`);
  }
  t.not(many.testNll, mean.testNll, 'averaging posterior draws changes the predictive distribution');
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  t.same(mean.testAccuracy, summary.testAccuracy, 'the posterior mean reproduces the training run\'s test accuracy');
  const ins = btnn('inspect', model);
  t.equal(ins.status, 0);
  t.match(ins.stdout, new RegExp(`fc1 +ttm +\\[7,4,7,4\\]→\\[4,4,8,4\\] +\\[${summary.ranks.fc1.join(',')}\\]`));
  const plain = btnn('train', '--epochs', '1', '--limit-train', '200', '--limit-test', '100', '--out', join(dir, 'plain'));
  t.equal(plain.status, 0);
  const bad = btnn('eval', '--model', join(dir, 'plain', 'model.safetensors'), '--samples', '4');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--samples 4: .* has no posterior to sample/);
  const sim = btnn('simulate', '--model', model, '--device', 'esp32-s3', '--mode', 'infer', '--out', join(dir, 'sim'));
  t.equal(sim.status, 0, sim.stderr.slice(-300));
  const report = JSON.parse(readFileSync(join(dir, 'sim', 'report.json'), 'utf8'));
  t.ok(Array.isArray(report.rankHistory) && report.rankHistory.length >= 1, `the model's rank history reaches the report (${report.rankHistory?.length} points)`);
  t.same(report.rankHistory[0].ranks.fc1, [1, 6, 6, 6, 1], 'it starts at the max ranks');
  t.same(report.rankHistory[report.rankHistory.length - 1].ranks.fc1, summary.ranks.fc1, 'and ends at the final ranks');
  t.match(readFileSync(join(dir, 'sim', 'report.html'), 'utf8'), /<h2>Ranks over training<\/h2>\s*<figure><svg/, 'report.html charts it');
  const pr = btnn('experiment', 'planted-rank', '--format', 'ttm', '--true-rank', '2', '--max-rank', '6', '--seed', '1');
  t.equal(pr.status, 0, pr.stderr.slice(-300));
  const j = JSON.parse(pr.stdout);
  for (const key of ['format', 'trueRank', 'maxRank', 'recoveredRanks', 'relativeError']) t.ok(key in j, `planted-rank JSON has ${key}`);
  t.same(j.recoveredRanks, [1, 2, 2, 1]);
});

t.test('user errors exit 2 and name the bad value', async (t) => {
  const cases: [string[], RegExp][] = [
    [['train', '--epochs', 'two'], /--epochs two: must be an integer/],
    [['train', '--epoch', '3'], /train: unknown option --epoch; did you mean --epochs\? \(its options: --data /],
    [['eval', '--epochs', '99', '--lr', 'abc'], /eval: unknown option --epochs \(its options: --model /],
    [['eval', '--bits', '8'], /eval needs --model FILE/],
    [['train', '--device', 'x'], /train: unknown option --device/],
    [['train', '--seed', '-1'], /--seed -1: must be an integer in 0\.\./],
    [['train', '--epochs', '0'], /--epochs 0: must be an integer in 1\.\.10000/],
    [['train', '--out', ''], /--out "": give a directory/],
    [['train', '--out', 'package.json'], /--out package\.json: cannot write there \(ENOTDIR\)/],
    [['train', '--out', '/proc/btnn-x'], /--out \/proc\/btnn-x: cannot write there \(ENOENT\)/],
    [['trian'], /unknown command "trian"; did you mean train\?/],
    [['eval', '--model', '.'], /--model \.: is a directory/],
    [['simulate', '--device', 'rpi4', '--out', 'package.json'], /--out package\.json: is a file/],
    [['simulate', '--device', 'rpi4', '--out', '/proc/btnn-y'], /--out \/proc\/btnn-y: cannot write there \(ENOENT\)/],
    [['train', '--json=yes'], /--json is a switch and takes no value/],
    [['train', '--hidden', '509', '--out', join(tmpdir(), 'btnn-h509')], /--hidden 509: fc1 .*509 is prime: no TTM modes; use 512/],
    [['train', '--hidden', '256,x'], /--hidden 256,x: "x" is not a width/],
    [['train', '--spec', 'examples/mlp-mixed.json', '--hidden', '64'], /--hidden shapes the default network; with --spec/],
    [['train', '--format', 'cpd'], /--format cpd/],
    [['train', '--lr=-1'], /--lr -1: must be a number in \(0, 1\]/],
    [['train', '--lr', '0'], /--lr 0: must be a number in \(0, 1\]/],
    [['train', '--bogus'], /bogus/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['train', '--epochs', '0x3'], /--epochs 0x3: must be an integer/],
    [['train', '--schedule', 'step'], /--schedule step: must be one of cosine, constant/],
    [['train', '--out', '/dev/null/x', '--limit-train', '10'], /--out \/dev\/null\/x: cannot write there/],
    [['train', '--workspace-mib', '1', '--limit-train', '10', '--out', join(tmpdir(), 'btnn-big')], /layer fc1 \(ttm\): every contraction path needs more workspace than the budget of 1048576 bytes; the leanest needs \d+ bytes/],
    [['eval'], /eval needs --model/],
    [['train', '--kl', '1e-4'], /--kl needs --inference svi or --inference map/],
    [['train', '--inference', 'vi'], /--inference vi: must be one of svi, map \(did you mean svi\?\)/],
    [['train', '--inference', 'svi', '--kl=-1'], /--kl -1: must be a number in \[0, 1000\]/],
    [['train', '--inference', 'svi', '--rank-threshold', '2'], /rank threshold "2"/],
    [['train', '--inference', 'svi', '--kl-warmup', '3'], /"3"/],
    [['train', '--eta', '0.1', '--inference', 'map'], /--eta is the half-Cauchy scale: add --prior half-cauchy/],
    [['experiment', 'planted-rank', '--format', 'dense', '--true-rank', '2'], /--format dense: must be one of cp, tucker, tt, ttm, tr/],
    [['experiment', 'planted-rank', '--format', 'tt'], /needs --true-rank/],
    [['experiment', 'nope'], /the one experiment is planted-rank/],
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

t.test('--hidden builds an MLP with automatic modes, shown in the layer table and stored in the model', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-hidden-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = btnn('train', '--hidden', '256,128', '--format', 'tt', '--epochs', '1', '--limit-train', '3000', '--limit-test', '500', '--out', join(dir, 'h'), '--json');
  t.equal(r.status, 0, r.stderr.slice(-300));
  t.match(r.stderr, /fc1 +tt +\[28,28\]→\[16,16\]/);
  t.match(r.stderr, /fc3 +tt +\[16,8\]→\[2,5\]/);
  const s = JSON.parse(r.stdout);
  t.same(Object.keys(s.ranks), ['fc1', 'fc2', 'fc3']);
  t.ok(s.testAccuracy > 0.5, `learns (${s.testAccuracy})`);
  const warn = btnn('train', '--max-rank', '4096', '--epochs', '1', '--limit-train', '200', '--limit-test', '100', '--out', join(dir, 'w'));
  t.match(warn.stderr, /warning: --max-rank 4096 exceeds what the mode sizes allow; the ranks are fc1 \[1,28,/);
});

t.test('help explains the commands and options', async (t) => {
  const r = btnn('--help');
  t.equal(r.status, 0);
  for (const word of ['train', 'eval', 'inspect', 'simulate', 'experiment', 'selftest', 'Exit status', '130 / 143']) t.match(r.stdout, word);
  const tr = btnn('train', '--help');
  t.equal(tr.status, 0);
  for (const word of ['--format', '--max-rank', '--seed', '--limit-train', '--out', '--threads', '--lanes', '--spec', '--resume', '--schedule']) t.match(tr.stdout, word);
  t.equal(btnn('help', 'eval').stdout, btnn('eval', '--help').stdout, 'btnn help eval = btnn eval --help');
  t.match(btnn('eval', '--help').stdout, /--model FILE/);
  t.match(btnn('--version').stdout, /^\d+\.\d+\.\d+\n$/);
});

t.test('simulate prints the plan against a device budget and writes the reports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const train = btnn('simulate', '--spec', 'default', '--device', 'esp32-s3', '--mode', 'train', '--batch', '512', '--out', join(dir, 'a'));
  t.equal(train.status, 3, `does not fit: exit 3 (stderr: ${train.stderr.slice(-300)})`);
  t.match(train.stdout, /does not fit: over budget by \d+ bytes/, 'training the default model at batch 512 does not fit an ESP32-S3');
  t.same(readdirSync(join(dir, 'a')).sort(), ['report.html', 'report.json', 'report.md']);
  const infer = btnn('simulate', '--spec', 'default', '--device', 'stm32h7', '--mode', 'infer', '--bits', '8', '--json');
  t.equal(infer.status, 0);
  const r = JSON.parse(infer.stdout);
  t.equal(r.fits, true, '8-bit inference of the default TTM model fits an STM32H7');
  t.equal(r.unsharedBytes, Object.values(r.categories as Record<string, number>).reduce((s, b) => s + b, 0), 'unshared = sum of categories');
  t.ok(r.totalBytes <= r.unsharedBytes, 'the greedy plan shares bytes');
  const fit = btnn('simulate', '--spec', 'default', '--device', 'cortex-m4', '--mode', 'infer', '--fit', '--json');
  t.equal(fit.status, 0, fit.stderr.slice(-300));
  const f = JSON.parse(fit.stdout);
  t.same(f.fit.map((x: { bits: number }) => x.bits), [32, 16, 8]);
  const r32 = f.fit[0];
  t.ok(r32.maxRank >= 1 && r32.maxRank < 64 && r32.totalBytes <= 196608, `32-bit: max rank ${r32.maxRank} fits in ${r32.totalBytes} bytes`);
  t.ok(f.fit[2].maxRank >= f.fit[1].maxRank && f.fit[1].maxRank >= r32.maxRank, 'narrower elements fit at least the same rank');
  const above = JSON.parse(btnn('simulate', '--spec', 'default', '--device', 'cortex-m4', '--mode', 'infer', '--max-rank', String(r32.maxRank + 1), '--json').stdout);
  t.equal(above.deployment.fitsRam && above.deployment.fitsFlash, false, `max rank ${r32.maxRank + 1} does not fit (${above.deployment.ramBytes} bytes of RAM)`);
  t.match(f.accuracy, /memory only/);
  const bad = btnn('simulate', '--device', 'nope');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown device "nope": known devices are/);
  const bits = btnn('simulate', '--device', 'rpi4', '--bits', '12');
  t.equal(bits.status, 2);
  t.match(bits.stderr, /--bits 12: must be one of 8, 16, 32/);
});

t.test('simulate --out refuses a btnn.history of the wrong shape before writing any report', async (t) => {
  const { saveModel } = await import('../src/model/file.js');
  const { defaultSpec } = await import('../src/spec/defaults.js');
  const { modelTensors } = await import('../src/model/layers.js');
  const dir = mkdtempSync(join(tmpdir(), 'btnn-hist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spec = defaultSpec('ttm', 4);
  const shapes = new Map(modelTensors(spec).map((x) => [x.name, x.shape]));
  const model = join(dir, 'model.safetensors');
  const history = [{ step: 0, epoch: 0, ranks: { fc1: 3 }, params: 10, planBytes: 100 }];
  saveModel(model, spec, (n) => new Float32Array(shapes.get(n)!.reduce((p, v) => p * v, 1)), { history: JSON.stringify(history) });
  const sim = btnn('simulate', '--model', model, '--device', 'esp32-s3', '--mode', 'infer', '--out', join(dir, 'sim'));
  t.equal(sim.status, 2, sim.stderr);
  t.match(sim.stderr, /__metadata__ btnn\.history\[0\]\.ranks\["fc1"\] = 3: must be an array of integers >= 0/);
  t.same(readdirSync(dir), ['model.safetensors'], 'no report written');
});

t.test('the redrawn progress line fits the terminal (80 columns when it does not say)', async (t) => {
  const { Progress, fitColumns } = await import('../src/util/progress.js');
  let out = '';
  const stream = { isTTY: true, columns: 80, write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
  const p = new Progress('epoch 1/10', 100, stream);
  p.update(50, 'loss 0.1234 acc 0.9876 25000 samples/s | β 5.0e-5 | fc1 [1,18,7,3,1] 4256 | fc2 [1,12,1] 2314');
  const line = out.replace(/\r|\x1b\[K/g, '');
  t.ok([...line].length <= 79, `${[...line].length} columns: ${line}`);
  t.match(line, /…$/);
  t.equal(fitColumns('short', 80), 'short');
});
