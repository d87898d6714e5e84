// Threads running the jobs of a step's phases. Thread 0 is the calling thread; threads 1.. are
// worker threads over the core's shared memory (node flavour). Which thread runs which job of a
// phase is fixed per thread count by the jobs' modelled times (assignJobs). Jobs of one phase
// touch disjoint memory and their programs do not depend on T, so the bits do not depend on the
// thread count, the assignment or on timing.
//
// Protocol (per worker, a 32-byte SharedArrayBuffer): the main thread writes PHASE and EVAL, bumps
// SEQ and notifies; the worker runs its jobs of that phase, stores SEQ into DONE and notifies. A
// failing job sets FAILED and posts its error on a MessagePort the main thread reads synchronously.
// Each side acts on a changed counter, never on a wake: a notify can arrive after the worker ran
// that phase (it saw SEQ while spinning) and went back to sleep, when the main thread was
// descheduled between its store and its notify (test/pool.test.ts). A pruning re-plan hands the
// same workers the new runtime's programs (repoint) instead of starting new ones: a worker
// thread is a V8 isolate, and each one terminated and started anew left RSS behind.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Core } from '../core/wasm.js';

// GEN counts the phase sets handed over (repoint): a worker that sees it change takes the new set
// from its port before running the phase.
export const CTRL = { SEQ: 0, PHASE: 1, EVAL: 2, DONE: 3, FAILED: 4, GEN: 5, INTS: 8 } as const;

/**
 * A linked program: its address and length in words; lane programs also have a shorter eval
 * prefix. ns: its time by the cost model (src/tn/cost.ts), which spreads a phase over the threads.
 */
export interface Job { addr: number; words: number; evalWords?: number; ns?: number }

/**
 * The thread of each job of a phase, for T threads: longest modelled job first, each to the
 * thread with the least modelled work so far (ties: the lower thread, then job order). The
 * default TTM's finish phase has W's rows in chunks of 112, 224, 224 and 224 rows; dealt round
 * robin, one of two threads got 448 of them and the other 336. Jobs without a time count as equal.
 */
export function assignJobs(jobs: readonly Job[], T: number): number[] {
  const order = jobs.map((_, j) => j).sort((a, b) => (jobs[b].ns ?? 1) - (jobs[a].ns ?? 1) || a - b);
  const load = new Array<number>(T).fill(0), thread = new Array<number>(jobs.length).fill(0);
  for (const j of order) {
    let best = 0;
    for (let i = 1; i < T; i++) if (load[i] < load[best]) best = i;
    thread[j] = best;
    load[best] += jobs[j].ns ?? 1;
  }
  return thread;
}

/** Per phase, the jobs thread `id` of T runs, in job order. */
export function jobsOf(phases: readonly Job[][], id: number, T: number): Job[][] {
  return phases.map((jobs) => { const th = assignJobs(jobs, T); return jobs.filter((_, j) => th[j] === id); });
}

interface WorkerThread { worker: Worker; ctrl: Int32Array; seq: number; errors: MessagePort }

/** A job slower than this means the worker is gone (a step takes milliseconds to seconds). */
const WORKER_TIMEOUT_MS = 10 * 60 * 1000;
/**
 * How long each side polls before sleeping on a futex: a step's phases follow each other within
 * microseconds to a few milliseconds, and a futex wake costs tens of microseconds when it works
 * and a whole sleep slice when Node 20 loses it (below). With a poll budget of 20 000 (tens of
 * µs) the default TTM step ran its lanes phase 1.35× faster on 2 threads than on 1 and the whole
 * step 1.25–1.37×; polling up to 5 ms, 1.8–2.0× and 1.73–1.94×. An idle pool (between epochs)
 * sleeps after that.
 */
export const SPIN_MS = 5;

/** Polls `ready` until true or SPIN_MS passed (the clock read every 1 024 polls). */
export function spinUntil(ready: () => boolean): boolean {
  const until = performance.now() + SPIN_MS;
  for (;;) {
    for (let k = 0; k < 1024; k++) if (ready()) return true;
    if (performance.now() > until) return ready();
  }
}
/**
 * The main thread sleeps in slices this long, re-reading DONE between them. On Node 20 a worker's
 * Atomics.notify sometimes never wakes the main thread's Atomics.wait although DONE was stored
 * (measured: up to 14 of ~200 waits in an 80-step run, each a whole timeout; with a 1 s timeout
 * that made 2 threads 7–15× slower than 1 at random); a lost wake now costs at most a slice.
 */
export const WAIT_SLICE_MS = 1;

const here = dirname(fileURLToPath(import.meta.url));

function workerScript(): string {
  // Compiled JS in both cases: this file runs from build/js/src/runtime, or from src/runtime under tests.
  for (const p of [join(here, 'worker.js'), join(here, '..', '..', 'build', 'js', 'src', 'runtime', 'worker.js')]) {
    if (existsSync(p)) return p;
  }
  throw new Error('build/js/src/runtime/worker.js not found: run `npm run build`');
}

export class ThreadPool {
  /** The main thread's jobs of each phase, and per phase whether worker i has any. */
  private mine: Job[][] = [];
  private busyIn: boolean[][] = [];

  private constructor(private readonly core: Core, private phases: Job[][], private readonly workers: WorkerThread[]) { this.assign(); }

  private assign(): void {
    const threadOf = this.phases.map((jobs) => assignJobs(jobs, this.threads));
    this.mine = this.phases.map((jobs, p) => jobs.filter((_, j) => threadOf[p][j] === 0));
    this.busyIn = threadOf.map((th) => this.workers.map((_, i) => th.includes(i + 1)));
  }

  /** threads: how many threads may run jobs (1, or an unshared core: everything inline). */
  static async create(core: Core, phases: Job[][], threads: number): Promise<ThreadPool> {
    const most = Math.max(1, ...phases.map((p) => p.length));
    const T = core.shared ? Math.max(1, Math.min(threads, most)) : 1;
    const workers: WorkerThread[] = [];
    try {
      for (let id = 1; id < T; id++) {
        const control = new SharedArrayBuffer(CTRL.INTS * 4);
        const { port1, port2 } = new MessageChannel();
        const worker = new Worker(workerScript(), {
          workerData: { module: core.module, memory: core.memory, flavour: core.flavour, phases, thread: id, threads: T, control, errors: port2 },
          transferList: [port2],
        });
        const w: WorkerThread = { worker, ctrl: new Int32Array(control), seq: 0, errors: port1 };
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`worker thread ${id}: ${String(m)}`))));
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`worker thread ${id} exited with code ${code} before it was ready`)));
        });
        worker.removeAllListeners();
        worker.unref();
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw err;
    }
    return new ThreadPool(core, phases, workers);
  }

  get threads(): number { return 1 + this.workers.length; }

  /**
   * Runs `phases` from now on (another runtime's programs over the same core and memory), on the
   * same threads. Call between steps; each worker takes the new set before its next phase.
   */
  repoint(core: Core, phases: Job[][]): void {
    if (core !== this.core) throw new Error('ThreadPool.repoint: another core (its workers run this pool\'s core)');
    this.phases = phases;
    this.assign();
    for (const w of this.workers) {
      w.errors.postMessage(phases);
      Atomics.add(w.ctrl, CTRL.GEN, 1);
    }
  }

  /** Runs every job of a phase (lane jobs: only their eval prefix when `evalOnly`), returns when all are done. */
  run(phase: number, evalOnly = false): void {
    const e = this.core.exports;
    const busy = this.workers.map((w, i) => ({ w, id: i + 1 })).filter((_, i) => this.busyIn[phase][i]);
    for (const { w } of busy) {
      w.ctrl[CTRL.PHASE] = phase;
      w.ctrl[CTRL.EVAL] = evalOnly ? 1 : 0;
      w.seq++;
      Atomics.store(w.ctrl, CTRL.SEQ, w.seq);
      Atomics.notify(w.ctrl, CTRL.SEQ);
    }
    for (const job of this.mine[phase]) e.tnRun(job.addr, evalOnly && job.evalWords !== undefined ? job.evalWords : job.words);
    busy.forEach(({ w, id }) => {
      spinUntil(() => Atomics.load(w.ctrl, CTRL.DONE) === w.seq);
      const start = Date.now();
      while (Atomics.load(w.ctrl, CTRL.DONE) !== w.seq) {
        Atomics.wait(w.ctrl, CTRL.DONE, Atomics.load(w.ctrl, CTRL.DONE), WAIT_SLICE_MS);
        if (Date.now() - start > WORKER_TIMEOUT_MS) throw new Error(`worker thread ${id} stopped answering; rerun with --threads 1`);
      }
      if (w.ctrl[CTRL.FAILED]) {
        const message = receiveMessageOnPort(w.errors)?.message;
        throw new Error(`worker thread ${id} failed: ${message ?? 'no message'}`);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(async (w) => {
      w.errors.close();
      await w.worker.terminate();
    }));
    this.workers.length = 0;
  }
}
