// `btnn eval --bits 8|16`: the model quantised exactly as `btnn export --bits` quantises it, run in
// btnn's node core (the integer ops of assembly/quant.ts), against the same program in f32 — the
// accuracy an exported integer module will have, and what quantisation cost.
import { loadModel, type LoadedModel } from '../model/file.js';
import { loadCore, type Core, type Flavour } from '../core/wasm.js';
import { runQuantProgram, newQuantCounters } from '../../hw-sim/fixed/quant-program.js';
import type { Dataset } from '../data/dataset.js';
import { dataSource } from '../train/data.js';
import { loadTestFor } from '../train/evaluate.js';
import { closeDataset, targetArray } from '../data/dataset.js';
import { buildImage, type ModelImage } from '../image/image.js';
import { quantiseModel, layoutQuant } from '../image/quant-image.js';
import { calibrationRows } from './calibration.js';
import { ImageRunner } from './run-image.js';
import { rowBytes, writeRow } from '../image/rows.js';
import { classOf } from '../image/abi.js';

export interface QuantEvalResult {
  dataset: string; testSamples: number; bits: number; testAccuracy: number; f32Accuracy: number; dropPoints: number;
  calibration: string; weightsBytes: number; arenaBytes: number; flavour: Flavour;
  /** The golden model (hw-sim) over the first rows: its counts, and whether the core matched it on every one. */
  golden: { rows: number; matches: number; overflows: number; saturations: number };
}

/** Rows the golden model (JS, ~100× slower than the core) replays with its counters. */
const GOLDEN_ROWS = 200;

/**
 * The first rows through hw-sim's golden model over a copy of the core's memory: overflow (int32
 * wraps that changed a sum) and saturation counts, and the core's scores checked against it.
 */
function goldenCheck(core: Core, image: ModelImage, test: Dataset, rows: number): QuantEvalResult['golden'] {
  const runner = new ImageRunner(core, image);
  const source = dataSource(test, image.spec);
  const row = new Uint8Array(rowBytes(image.inputs));
  const counters = newQuantCounters();
  let matches = 0;
  for (let r = 0; r < rows; r++) {
    writeRow(row, 0, image.inputs, source, r);
    const want = runner.run(row, 0).slice();
    const mem = new Uint8Array(core.memory.buffer.slice(0, image.endBytes));
    mem.fill(0, image.arenaAt, image.endBytes); // the golden model computes every byte it reads
    let p = 0;
    for (const x of image.inputs) { mem.set(row.subarray(p, p + x.bytes), x.address); p += x.bytes; }
    runQuantProgram(new DataView(mem.buffer), image.program, counters);
    const got = mem.subarray(image.output.address, image.output.address + image.output.bytes);
    if (got.every((b, i) => b === want[i])) matches++;
  }
  if (matches !== rows) throw new Error(`the core's integer scores differ from hw-sim's golden model on ${rows - matches} of ${rows} rows: a btnn bug, please report it`);
  return { rows, matches, overflows: counters.overflows, saturations: counters.saturations };
}

export async function evaluateQuant(from: string | LoadedModel, o: { bits: 8 | 16; data?: string; limitTest?: number; calibrate?: number; flavour?: Flavour }): Promise<QuantEvalResult> {
  const loaded = typeof from === 'string' ? loadModel(from) : from;
  const path = typeof from === 'string' ? from : 'the model';
  const { test, spec } = loadTestFor(loaded, path, o);
  try {
    const model = { ...loaded, spec };
    const core = await loadCore(o.flavour);
    const cal = calibrationRows(spec, test, o.data, o.calibrate ?? 512);
    let q;
    try {
      q = quantiseModel(model, { bits: o.bits, calibration: cal.calibration });
    } finally {
      cal.close();
    }
    const base = core.exports.heapBase();
    const labels = targetArray(test.target);
    const accuracy = (image: ModelImage): number => {
      const runner = new ImageRunner(core, image);
      const source = dataSource(test, image.spec);
      const row = new Uint8Array(rowBytes(image.inputs));
      let correct = 0;
      for (let r = 0; r < test.count; r++) {
        writeRow(row, 0, image.inputs, source, r);
        runner.run(row, 0);
        if (classOf(image.classRule === 'argmaxI32' ? 'argmaxF32' : image.classRule, runner.scores()) === labels[r]) correct++;
      }
      return correct / test.count;
    };
    const qImage = layoutQuant(q, { base, bits: o.bits });
    const testAccuracy = accuracy(qImage);
    const golden = goldenCheck(core, qImage, test, Math.min(GOLDEN_ROWS, test.count));
    const f32Accuracy = accuracy(buildImage(model, { base }));
    return {
      dataset: test.name, testSamples: test.count, bits: o.bits, testAccuracy, f32Accuracy, dropPoints: 100 * (f32Accuracy - testAccuracy),
      calibration: cal.from, weightsBytes: qImage.weightsBytes, arenaBytes: qImage.arenaBytes, flavour: core.flavour, golden,
    };
  } finally {
    closeDataset(test);
  }
}
