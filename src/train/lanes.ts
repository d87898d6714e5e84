// Running the lanes of a minibatch. Lane 0 always runs on the calling thread; lanes 1.. run on
// worker threads when the core's memory is shared (node flavour) and threads > 1, else inline
// after lane 0. Either way each lane computes the same rows into its own buffers and the
// gradients are summed in lane order, so the bits do not depend on the thread count.
//
// Protocol (per worker, a 40-byte SharedArrayBuffer): the main thread writes op/rows/batchRows,
// bumps SEQ and notifies; the worker runs forward, loss and (for TRAIN) backward of its lane,
// writes loss/correct, stores SEQ into DONE and notifies. A failing job sets FAILED and posts its
// error on a MessagePort the main thread reads synchronously. Lanes share parameters read-only
// while they run; only the main thread steps the optimizer, after every lane is done.
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Runtime } from './runtime.js';

export const CTRL = { SEQ: 0, OP: 1, ROWS: 2, BATCH_ROWS: 3, DONE: 4, CORRECT: 5, FAILED: 6, INTS: 8 } as const;
export const OP = { TRAIN: 1, EVAL: 2 } as const;

export interface LaneResult { lossSum: number; correct: number }

interface WorkerLane { worker: Worker; ctrl: Int32Array; loss: Float64Array; seq: number; errors: MessagePort }

/** A lane job slower than this means the worker is gone (a step takes milliseconds to seconds). */
const WORKER_TIMEOUT_MS = 10 * 60 * 1000;

const here = dirname(fileURLToPath(import.meta.url));

function workerScript(): string {
  // Compiled JS in both cases: this file runs from build/js/src/train, or from src/train under tests.
  for (const p of [join(here, 'lane-worker.js'), join(here, '..', '..', 'build', 'js', 'src', 'train', 'lane-worker.js')]) {
    if (existsSync(p)) return p;
  }
  throw new Error('build/js/src/train/lane-worker.js not found: run `npm run build`');
}

export class LanePool {
  private constructor(private readonly rt: Runtime, private readonly workers: (WorkerLane | null)[]) {}

  /** threads: how many threads may run lanes (1 = all inline). */
  static async create(rt: Runtime, threads: number): Promise<LanePool> {
    const workers: (WorkerLane | null)[] = [null];
    const useWorkers = rt.core.shared && threads > 1;
    for (let lane = 1; lane < rt.lanes; lane++) {
      if (!useWorkers || lane >= threads) { workers.push(null); continue; }
      const control = new SharedArrayBuffer(CTRL.INTS * 4 + 8);
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(workerScript(), {
        workerData: {
          module: rt.core.module, memory: rt.core.memory, flavour: rt.core.flavour, spec: rt.spec, batch: rt.batch,
          mode: rt.mode, options: rt.options, lane, control, errors: port2, planEndBytes: rt.plan.endBytes,
        },
        transferList: [port2],
      });
      const w: WorkerLane = { worker, ctrl: new Int32Array(control, 0, CTRL.INTS), loss: new Float64Array(control, CTRL.INTS * 4, 1), seq: 0, errors: port1 };
      await new Promise<void>((resolve, reject) => {
        worker.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`lane ${lane} worker: ${String(m)}`))));
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`lane worker exited with code ${code} before it was ready`)));
      });
      worker.removeAllListeners();
      worker.unref();
      workers.push(w);
    }
    return new LanePool(rt, workers);
  }

  get threads(): number { return 1 + this.workers.filter(Boolean).length; }

  /**
   * Forward + loss (+ backward when train) of every lane over its share of `rows` samples, which
   * the caller has loaded with rt.loadBatch(…, lane). Returns the summed loss and correct count;
   * when training, lane gradients are reduced into `grads`.
   */
  run(rows: number[], train: boolean): LaneResult {
    const batchRows = rows.reduce((s, r) => s + r, 0);
    const rt = this.rt;
    if (rows.length !== rt.lanes || rows.some((r) => r < 0 || r > rt.laneBatch)) {
      throw new Error(`lane rows [${rows}] do not fit ${rt.lanes} lanes of ${rt.laneBatch} rows`);
    }
    rt.prepare(); // before any lane reads W
    for (let l = 1; l < rows.length; l++) {
      const w = this.workers[l];
      if (!w || rows[l] === 0) continue;
      w.ctrl[CTRL.OP] = train ? OP.TRAIN : OP.EVAL;
      w.ctrl[CTRL.ROWS] = rows[l];
      w.ctrl[CTRL.BATCH_ROWS] = batchRows;
      w.seq++;
      Atomics.store(w.ctrl, CTRL.SEQ, w.seq);
      Atomics.notify(w.ctrl, CTRL.SEQ);
    }
    let lossSum = 0, correct = 0;
    const results: LaneResult[] = [];
    for (let l = 0; l < rows.length; l++) {
      if (rows[l] === 0 || this.workers[l]) { results.push({ lossSum: 0, correct: 0 }); continue; }
      rt.forward(rows[l], l);
      results.push(rt.loss(rows[l], batchRows, l));
      if (train) rt.backward(rows[l], l);
    }
    for (let l = 1; l < rows.length; l++) {
      const w = this.workers[l];
      if (!w || rows[l] === 0) continue;
      const start = Date.now();
      while (Atomics.load(w.ctrl, CTRL.DONE) !== w.seq) {
        Atomics.wait(w.ctrl, CTRL.DONE, Atomics.load(w.ctrl, CTRL.DONE), 1000);
        if (Date.now() - start > WORKER_TIMEOUT_MS) throw new Error(`lane ${l}'s worker thread stopped answering; rerun with --threads 1`);
      }
      if (w.ctrl[CTRL.FAILED]) {
        const message = receiveMessageOnPort(w.errors)?.message;
        throw new Error(`lane ${l} failed in its worker thread: ${message ?? 'no message'}`);
      }
      results[l] = { lossSum: w.loss[0], correct: w.ctrl[CTRL.CORRECT] };
    }
    // Sum in lane order whoever ran them, so results do not depend on thread timing.
    for (const r of results) { lossSum += r.lossSum; correct += r.correct; }
    if (train) {
      const lanesRun = rows.filter((r) => r > 0).length;
      rt.finish(lanesRun);
      rt.reduceGradients(lanesRun);
    }
    return { lossSum, correct };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(async (w) => {
      if (!w) return;
      w.errors.close();
      await w.worker.terminate();
    }));
  }
}
