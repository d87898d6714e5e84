// Checkpoints resume bit-exactly: a run stopped (as by SIGINT) mid-epoch or at an epoch's end and
// resumed with --resume writes the same model file, byte for byte, as the run that never stopped,
// including ARD svi runs whose ranks are cut while training; the CLI's SIGINT writes a checkpoint
// and exits 130; a run directory holds one run.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train, Interrupted, CHECKPOINT_FILE, type TrainOptions } from '../src/train/train.js';

const CLI = join(import.meta.dirname, '..', 'build', 'js', 'src', 'cli', 'main.js');

const ard: TrainOptions['bayes'] = {
  inference: 'svi', prior: { kind: 'log-uniform' }, kl: 2e-2, klWarmup: { start: 0, length: 0.5 },
  rankThreshold: { rel: 1e-2, abs: 1e-12 }, pruneEvery: 5, emStep: 1, sigmaInit: 0.01,
};

const base = (outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  format: 'ttm', epochs: 3, batch: 50, lr: 3e-3, maxRank: 6, seed: 11, limitTrain: 600, limitTest: 100, outDir, log: null, threads: 2, bayes: ard, ...extra,
});

t.test('stopped and resumed = never stopped, byte for byte (ARD svi with pruning)', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-resume-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const straight = await train(base(join(dir, 'straight')));
  t.ok(straight.pruneEvents!.length > 0, `ranks were cut while training (${straight.pruneEvents!.length} events)`);
  const reference = readFileSync(join(dir, 'straight', 'model.safetensors'));
  // 12 steps per epoch: 12 ends epoch 1 (1 + resume 2), 17 is mid-epoch 2, 29 mid-epoch 3 after cuts.
  for (const at of [12, 17, 29]) {
    const out = join(dir, `stop${at}`);
    await t.rejects(train(base(out, { interruptAtStep: at })), Interrupted, `stops after step ${at}`);
    t.ok(existsSync(join(out, CHECKPOINT_FILE)), 'a checkpoint is written');
    t.notOk(existsSync(join(out, 'summary.json')), 'no summary.json: the run did not finish');
    const resumed = await train(base(out, { resume: true }));
    t.equal(resumed.testAccuracy, straight.testAccuracy, 'same test accuracy');
    t.same(resumed.ranks, straight.ranks, 'same final ranks');
    t.ok(readFileSync(join(out, 'model.safetensors')).equals(reference), `stop after step ${at} + resume: model file identical`);
    t.notOk(existsSync(join(out, CHECKPOINT_FILE)), 'the finished run drops its checkpoint');
  }
  // Checkpoints every 4 steps change nothing either (and resume from the latest one).
  const every = join(dir, 'every');
  await t.rejects(train(base(every, { checkpointEvery: 4, interruptAtStep: 22 })), Interrupted);
  await train(base(every, { resume: true, checkpointEvery: 4 }));
  t.ok(readFileSync(join(every, 'model.safetensors')).equals(reference), '--checkpoint-every 4: identical');
});

t.test('a resume must use the run\'s options; a run directory holds one run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-rundir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'run');
  await t.rejects(train(base(out, { interruptAtStep: 3, bayes: undefined })), Interrupted);
  await t.rejects(train(base(out, { resume: true, bayes: undefined, lr: 1e-2 })), /different options \(lr: 0\.003 then, 0\.01 now\)/);
  await t.rejects(train(base(out, { bayes: undefined })), /already holds a run .*--resume .*--force/);
  writeFileSync(join(out, 'model.safetensors.123.abcd.tmp'), 'partial');
  await train(base(out, { resume: true, bayes: undefined }));
  t.same(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'stale temp files are removed');
  await t.rejects(train(base(join(dir, 'none'), { resume: true, bayes: undefined })), /no checkpoint\.safetensors there/);
  // Someone else's temp file is theirs: it makes the directory non-empty and is left alone.
  const other = join(dir, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'notes.tmp'), 'mine');
  await t.rejects(train(base(other, { bayes: undefined })), /already holds a run \(notes\.tmp\)/);
  t.ok(existsSync(join(other, 'notes.tmp')), 'a foreign .tmp file is not deleted');
  await train(base(out, { force: true, bayes: undefined, epochs: 1 }));
  t.ok(existsSync(join(out, 'summary.json')), '--force reuses the directory');
});

t.test('CLI: SIGINT mid-epoch writes a checkpoint, exits 130 and says how to resume; the resumed run equals a straight one', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-sigint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const args = (out: string): string[] => ['train', '--epochs', '2', '--limit-train', '20000', '--limit-test', '200', '--max-rank', '8', '--checkpoint-every', '20', '--out', out];
  const straight = spawnSync(process.execPath, [CLI, ...args(join(dir, 'straight'))], { encoding: 'utf8' });
  t.equal(straight.status, 0, straight.stderr.slice(-300));
  const out = join(dir, 'stopped');
  const child = spawn(process.execPath, [CLI, ...args(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  // Wait for the first checkpoint, then interrupt.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => { if (existsSync(join(out, CHECKPOINT_FILE))) { clearInterval(poll); resolve(); } }, 20);
  });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 130, 'exit status 130 after SIGINT');
  t.match(stderr, /SIGINT: stopped after step \d+; checkpoint written, continue with: btnn train --resume /);
  t.notOk(existsSync(join(out, 'summary.json')), 'no summary.json');
  const resumed = spawnSync(process.execPath, [CLI, ...args(out).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out'), '--resume', out], { encoding: 'utf8' });
  t.equal(resumed.status, 0, resumed.stderr.slice(-300));
  t.match(resumed.stderr, /resuming at epoch [12], sample \d+ of 20000/);
  t.ok(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(dir, 'straight', 'model.safetensors'))), 'model file identical to the straight run');
});

t.test('a damaged checkpoint is refused with a message, never half-read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'btnn-ckfuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'run');
  const opts = (extra: Partial<TrainOptions> = {}): TrainOptions => base(out, { limitTrain: 200, epochs: 2, ...extra });
  await t.rejects(train(opts({ interruptAtStep: 2 })), Interrupted);
  const good = readFileSync(join(out, CHECKPOINT_FILE));
  let seed = 5;
  const rand = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const headerEnd = 8 + Number(good.readBigUInt64LE(0));
  for (let k = 0; k < 40; k++) {
    const bad = Buffer.from(good);
    const what = k % 4;
    let damaged: Buffer;
    if (what === 0) damaged = bad.subarray(0, rand(bad.length)); // truncated
    else if (what === 1) { bad[8 + rand(headerEnd - 8)] ^= 1 << rand(8); damaged = bad; } // header bit flip
    else if (what === 2) { bad.writeBigUInt64LE(BigInt(rand(1 << 30)), 0); damaged = bad; } // header length
    else { const h = JSON.parse(bad.subarray(8, headerEnd).toString()); delete h.__metadata__[['loop', 'rng', 'spec', 'buffers'][rand(4)]]; const j = Buffer.from(JSON.stringify(h).padEnd(headerEnd - 8)); damaged = Buffer.concat([bad.subarray(0, 8), j.subarray(0, headerEnd - 8), bad.subarray(headerEnd)]); }
    writeFileSync(join(out, CHECKPOINT_FILE), damaged);
    try {
      await train(opts({ resume: true }));
      // A flip inside a float's JSON digits can leave a valid file: then it must still train.
      t.ok(existsSync(join(out, 'summary.json')), `case ${k}: accepted and finished`);
      rmSync(join(out, 'summary.json'));
    } catch (err) {
      t.match((err as Error).name, /^(CheckpointError|SafetensorsError|SpecError|OutputError)$/, `case ${k} (${['truncated', 'bit flip', 'length', 'missing field'][what]}): ${(err as Error).name}: ${(err as Error).message.slice(0, 100)}`);
    }
  }
});
