// A worker thread of a ThreadPool (pool.ts): the same core module over the main thread's shared
// memory, which already holds the linked programs; it runs its share of each phase's jobs.
import { parentPort, workerData, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { loadCore, type Flavour } from '../core/wasm.js';
import { CTRL, spinUntil, jobsOf, type Job } from './pool.js';

interface WorkerData {
  module: WebAssembly.Module; memory: WebAssembly.Memory; flavour: Flavour; phases: Job[][];
  thread: number; threads: number; control: SharedArrayBuffer; errors: MessagePort;
}

const data = workerData as WorkerData;
const core = await loadCore(data.flavour, data.memory, data.module);
const ctrl = new Int32Array(data.control);
parentPort!.postMessage('ready');
let seq = 0;
let mine = jobsOf(data.phases, data.thread, data.threads); // this thread's jobs of each phase
let gen = 0;
for (;;) { // until the main thread terminates this worker
  spinUntil(() => Atomics.load(ctrl, CTRL.SEQ) !== seq);
  // Only a new SEQ is a new phase: Atomics.wait can return "ok" without one (an interrupt of this
  // isolate wakes it), and running the last phase again would add its sums twice.
  // Sliced like the main thread's wait (pool.ts WAIT_SLICE_MS: a notify can be lost), but longer:
  // an idle worker need not wake a thousand times a second; 2 ms bounds what a lost wake costs.
  while (Atomics.load(ctrl, CTRL.SEQ) === seq) Atomics.wait(ctrl, CTRL.SEQ, seq, 2);
  seq = Atomics.load(ctrl, CTRL.SEQ);
  try {
    if (Atomics.load(ctrl, CTRL.GEN) !== gen) { // the pool was repointed: the new phases wait on the port
      gen = Atomics.load(ctrl, CTRL.GEN);
      // Each repoint posted one set; only the newest counts (two repoints may come between phases).
      let m = receiveMessageOnPort(data.errors);
      if (!m) throw new Error('repointed, but no phases arrived on the port');
      for (let next = receiveMessageOnPort(data.errors); next; next = receiveMessageOnPort(data.errors)) m = next;
      mine = jobsOf(m.message as Job[][], data.thread, data.threads);
    }
    const evalOnly = ctrl[CTRL.EVAL] === 1;
    for (const job of mine[ctrl[CTRL.PHASE]]) core.exports.tnRun(job.addr, evalOnly && job.evalWords !== undefined ? job.evalWords : job.words);
    ctrl[CTRL.FAILED] = 0;
  } catch (err) {
    ctrl[CTRL.FAILED] = 1;
    data.errors.postMessage((err as Error).stack ?? String(err));
  }
  Atomics.store(ctrl, CTRL.DONE, seq);
  Atomics.notify(ctrl, CTRL.DONE);
}
