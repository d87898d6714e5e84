// A worker thread that runs one batch lane: the same core module over the main thread's shared
// memory, the same plan (attached, not re-allocated), jobs handed over through a small shared
// control block. See lanes.ts for the protocol.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { loadCore, type Flavour } from '../core/wasm.js';
import { Runtime, type RunMode, type RuntimeOptions } from './runtime.js';
import type { ModelSpec } from '../model/spec.js';
import { CTRL, OP } from './lanes.js';

interface LaneWorkerData {
  module: WebAssembly.Module; memory: WebAssembly.Memory; flavour: Flavour; spec: ModelSpec; batch: number;
  mode: RunMode; options: RuntimeOptions; lane: number; control: SharedArrayBuffer; errors: MessagePort; planEndBytes: number;
}

const data = workerData as LaneWorkerData;
const core = await loadCore(data.flavour, data.memory, data.module);
const rt = new Runtime(core, data.spec, data.batch, data.mode, { ...data.options, attach: true });
const ctrl = new Int32Array(data.control, 0, CTRL.INTS);
const loss = new Float64Array(data.control, CTRL.INTS * 4, 1);
// The worker re-derives the plan from the same inputs; a different plan would mean different offsets.
parentPort!.postMessage(rt.plan.endBytes === data.planEndBytes ? 'ready'
  : `its memory plan ends at ${rt.plan.endBytes} bytes, the main thread's at ${data.planEndBytes}; rebuild (npm run build)`);
let seq = 0;
for (;;) { // until the main thread terminates this worker
  Atomics.wait(ctrl, CTRL.SEQ, seq);
  seq = Atomics.load(ctrl, CTRL.SEQ);
  const op = ctrl[CTRL.OP];
  try {
    const rows = ctrl[CTRL.ROWS];
    rt.forward(rows, data.lane);
    const r = rt.loss(rows, ctrl[CTRL.BATCH_ROWS], data.lane);
    if (op === OP.TRAIN) rt.backward(rows, data.lane);
    loss[0] = r.lossSum;
    ctrl[CTRL.CORRECT] = r.correct;
    ctrl[CTRL.FAILED] = 0;
  } catch (err) {
    ctrl[CTRL.FAILED] = 1;
    data.errors.postMessage((err as Error).stack ?? String(err));
  }
  Atomics.store(ctrl, CTRL.DONE, seq);
  Atomics.notify(ctrl, CTRL.DONE);
}

