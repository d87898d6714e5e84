// `npm test` runner: the core's as-pect specs (SIMD build, then scalar build), then the tap suite.
// Streams every runner's output and ends with exactly one summary line, `N passed, N failed`,
// totalled over all runners (skips go on the line before it). Exit code 1 if anything failed or a
// runner crashed / printed no summary.
//
//   node src/scripts/test-all.mjs [tap args…]     e.g.  node src/scripts/test-all.mjs test/wabt.test.ts
//
// Arguments go to tap only; the as-pect specs always run (they take a few seconds).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ASP = join(root, 'node_modules', '@as-pect', 'cli', 'bin', 'asp.js');
const TAP = join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');
const ASPECT_CONFIG = 'test/assembly/as-pect.config.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const plain = (s) => s.replace(ANSI, '');

/**
 * Run `node args…` in the repo root, streaming stdout (through `filter`, line by line) and
 * stderr. Resolves with the exit code (null on signal / spawn failure) and the full plain stdout.
 */
function runNode(args, { env = {}, filter = (line) => line } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let all = '';
    let pending = '';
    const keepColour = process.stdout.isTTY;
    const emit = (line) => {
      const out = filter(line);
      if (out !== null) process.stdout.write((keepColour ? out : plain(out)) + '\n');
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      all += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) emit(line);
    });
    let spawnError = null;
    child.on('error', (e) => { spawnError = e; });
    child.on('close', (code, signal) => {
      if (pending) emit(pending);
      if (spawnError) console.error(`test-all: could not start ${args[0]}: ${spawnError.message}`);
      if (signal) console.error(`test-all: ${args[0]} killed by ${signal}`);
      resolve({ code: spawnError || signal ? null : code, stdout: plain(all) });
    });
  });
}

/** as-pect prints its logo even with --no-logo (8.1.0 reads opts.noLogo, commander sets opts.logo). */
function dropAspectLogo() {
  let seenBanner = false;
  return (line) => {
    if (!seenBanner) {
      if (!/AS-pect.*Test suite runner/.test(line)) return null;
      seenBanner = true;
    }
    return line;
  };
}

/** as-pect: `[Tests]: 36 / 36` (passed / total). */
async function runAspect(label, asconfig, simd) {
  console.log(`\n=== as-pect (${label}) ===`);
  const { code, stdout } = await runNode(
    [ASP, '--config', ASPECT_CONFIG, '--as-config', asconfig, '--no-logo'],
    { env: { BTNN_ASPECT_SIMD: simd ? '1' : '0' }, filter: dropAspectLogo() },
  );
  const m = [...stdout.matchAll(/\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/g)].pop();
  if (!m) {
    console.log(`test-all: as-pect (${label}) printed no [Tests] summary (exit ${code}); counting 1 failure`);
    return { name: `as-pect ${label}`, passed: 0, failed: 1, skipped: 0 };
  }
  const passed = Number(m[1]);
  let failed = Number(m[2]) - passed;
  if (code !== 0 && failed === 0) {
    console.log(`test-all: as-pect (${label}) exited ${code} with no failed test; counting 1 failure`);
    failed = 1;
  }
  // as-pect has no skip; `todo` tests are not in [Tests].
  return { name: `as-pect ${label}`, passed, failed, skipped: 0 };
}

/** tap (non-TTY reporter): `# { total: 7, pass: 4, fail: 1, todo: 1, skip: 1 }`, zero fields may be omitted. */
async function runTap(extra) {
  console.log('\n=== tap ===');
  const { code, stdout } = await runNode([TAP, ...extra]);
  const m = [...stdout.matchAll(/^# \{ (total: \d+(?:, \w+: \d+)*) \}\s*$/gm)].pop();
  if (!m) {
    console.log(`test-all: tap printed no "# { total: … }" summary (exit ${code}); counting 1 failure`);
    return { name: 'tap', passed: 0, failed: 1, skipped: 0 };
  }
  const f = Object.fromEntries(m[1].split(', ').map((kv) => { const [k, v] = kv.split(': '); return [k, Number(v)]; }));
  const passed = f.pass ?? 0;
  let failed = f.fail ?? 0;
  const skipped = (f.skip ?? 0) + (f.todo ?? 0);
  if (code !== 0 && failed === 0) {
    console.log(`test-all: tap exited ${code} with no failed assertion; counting 1 failure`);
    failed = 1;
  }
  return { name: 'tap', passed, failed, skipped };
}

const results = [];
results.push(await runAspect('simd', 'test/assembly/as-pect.asconfig.json', true));
results.push(await runAspect('scalar', 'test/assembly/as-pect.scalar.asconfig.json', false));
results.push(await runTap(process.argv.slice(2)));

const total = (k) => results.reduce((s, r) => s + r[k], 0);
console.log('');
// Per-runner lines deliberately avoid the "N passed, N failed" shape of the final line.
for (const r of results) console.log(`${r.name.padEnd(16)} pass ${r.passed}  fail ${r.failed}  skip ${r.skipped}`);
console.log(`skipped: ${total('skipped')}`);
console.log(`${total('passed')} passed, ${total('failed')} failed`);
process.exitCode = total('failed') > 0 ? 1 : 0;
