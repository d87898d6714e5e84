// The thread pool runs each phase's jobs exactly once per run(): a wake of a worker without a new
// phase (the main thread's notify arriving after the worker already ran that phase and went back
// to sleep, which happens when the main thread is descheduled between its store and its notify)
// must not run the phase again. Before this was guarded, such a late wake re-ran the gradient
// phase's sums under CPU load, and a training run's bits depended on scheduling.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCore } from '../src/core/wasm.js';
import { ThreadPool, CTRL, type Job } from '../src/runtime/pool.js';
import { link } from '../src/tn/compile.js';

t.test('a late wake without a new phase runs nothing; every run() runs each job once', async (t) => {
  const core = await loadCore('node');
  t.ok(core.shared, 'node flavour: shared memory, so a worker thread runs job 1');
  const base = (core.exports.heapBase() + 15) & ~15;
  core.memory.grow(1);
  const n = 4;
  const addr = { src: base, dst0: base + 64, dst1: base + 128, prog0: base + 192, prog1: base + 256 };
  const f32 = (a: number): Float32Array => new Float32Array(core.memory.buffer, a, n);
  f32(addr.src).fill(1);
  const job = (dst: number, at: number): Job => {
    const words = link([{ op: 'add', dst: { buf: 'dst', off: 0 }, src: { buf: 'src', off: 0 }, n }], (b) => (b === 'dst' ? dst : addr.src));
    new Int32Array(core.memory.buffer, at, words.length).set(words);
    return { addr: at, words: words.length };
  };
  const phases = [[job(addr.dst0, addr.prog0), job(addr.dst1, addr.prog1)]];
  const pool = await ThreadPool.create(core, phases, 2);
  t.teardown(() => pool.close());
  t.equal(pool.threads, 2);
  pool.run(0);
  t.same([...f32(addr.dst0)], [1, 1, 1, 1], 'job 0 (main thread) ran once');
  t.same([...f32(addr.dst1)], [1, 1, 1, 1], 'job 1 (worker) ran once');
  // The worker has spun out and sleeps on SEQ; wake it as a late notify would.
  await sleep(50);
  const ctrl = (pool as unknown as { workers: { ctrl: Int32Array }[] }).workers[0].ctrl;
  t.equal(Atomics.notify(ctrl, CTRL.SEQ), 1, 'the worker was asleep and is woken');
  await sleep(50);
  t.same([...f32(addr.dst1)], [1, 1, 1, 1], 'the woken worker did not run the phase again');
  for (let r = 2; r <= 50; r++) pool.run(0);
  t.same([...f32(addr.dst0)], [50, 50, 50, 50], '50 runs: job 0 ran 50 times');
  t.same([...f32(addr.dst1)], [50, 50, 50, 50], '50 runs: job 1 ran 50 times');
});

// A pruning re-plan hands the pool another runtime's programs (repoint) instead of starting new
// workers: after it, run() runs the new jobs on the same worker, and the old ones no more.
t.test('repoint: the same workers run the new phases from the next run() on', async (t) => {
  const core = await loadCore('node');
  const base = (core.exports.heapBase() + 15) & ~15;
  core.memory.grow(1);
  const n = 4;
  const f32 = (a: number): Float32Array => new Float32Array(core.memory.buffer, a, n);
  const src = base, dst = [base + 64, base + 128, base + 192, base + 256];
  f32(src).fill(1);
  let at = base + 320;
  const job = (d: number): Job => {
    const words = link([{ op: 'add', dst: { buf: 'dst', off: 0 }, src: { buf: 'src', off: 0 }, n }], (b) => (b === 'dst' ? d : src));
    new Int32Array(core.memory.buffer, at, words.length).set(words);
    const j = { addr: at, words: words.length };
    at += 64;
    return j;
  };
  const pool = await ThreadPool.create(core, [[job(dst[0]), job(dst[1])]], 2);
  t.teardown(() => pool.close());
  const worker = (pool as unknown as { workers: { worker: { threadId: number } }[] }).workers[0].worker.threadId;
  pool.run(0);
  pool.repoint(core, [[job(dst[0]), job(dst[1])]]); // superseded before any run: never runs
  pool.repoint(core, [[job(dst[2]), job(dst[3])], [job(dst[0])]]);
  t.equal((pool as unknown as { workers: { worker: { threadId: number } }[] }).workers[0].worker.threadId, worker, 'the same worker thread');
  for (let r = 0; r < 3; r++) pool.run(0);
  pool.run(1);
  t.same([f32(dst[0])[0], f32(dst[1])[0], f32(dst[2])[0], f32(dst[3])[0]], [2, 1, 3, 3], 'old jobs ran once before, new ones three times (job 1 on the worker), phase 1 of the new set once');
  const other = await loadCore('node');
  t.throws(() => pool.repoint(other, [[]]), /another core/, 'a pool runs its own core only');
});

t.test('assignJobs: longest modelled job first, to the least-loaded thread; every job once, fixed per thread count', async (t) => {
  const { assignJobs, jobsOf } = await import('../src/runtime/pool.js');
  // The default TTM's finish chunks (112, 224, 224, 224 rows) and two small jobs: round robin gave 448 / 336 + smalls.
  const jobs = [112, 224, 224, 224, 30, 20].map((ns, j) => ({ addr: 64 * j, words: 4, ns }));
  const th = assignJobs(jobs, 2);
  const load = [0, 1].map((i) => jobs.reduce((s, job, j) => s + (th[j] === i ? job.ns : 0), 0));
  t.same(load.sort((a, b) => a - b), [386, 448], `loads ${load.join(' / ')}`);
  t.same(assignJobs(jobs, 2), th, 'the same assignment every time');
  t.same(assignJobs(jobs, 1), jobs.map(() => 0), 'one thread runs everything');
  const per = [0, 1, 2].map((id) => jobsOf([jobs], id, 3)[0]);
  t.same(per.flat().map((j) => j.addr).sort((a, b) => a - b), jobs.map((j) => j.addr), 'each job on exactly one of 3 threads');
  t.ok(per.every((mine) => mine.every((j, i) => i === 0 || j.addr > mine[i - 1].addr)), 'each thread runs its jobs in job order');
  // Jobs without a modelled time count as equal: round robin's spread.
  t.same(assignJobs([{ addr: 0, words: 1 }, { addr: 4, words: 1 }, { addr: 8, words: 1 }], 2), [0, 1, 0]);
});
