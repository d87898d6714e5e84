// `btnn eval --bits 8|16`: the model quantised exactly as `btnn export --bits` quantises it, run in
// btnn's node core (the integer ops of assembly/quant.ts), against the same program in f32 — the
// accuracy an exported integer module will have, and what quantisation cost.
import { loadModel } from '../model/file.js';
import { loadCore, type Flavour } from '../core/wasm.js';
import { dataSource } from '../train/data.js';
import { loadTestFor } from '../train/evaluate.js';
import { closeDataset } from '../data/dataset.js';
import { buildImage, type ModelImage } from '../image/image.js';
import { quantiseModel, layoutQuant } from '../image/quant-image.js';
import { calibrationRows } from './calibration.js';
import { ImageRunner } from './run-image.js';
import { rowBytes, writeRow } from './rows.js';
import { classOf } from '../image/abi.js';

export interface QuantEvalResult {
  dataset: string; testSamples: number; bits: number; testAccuracy: number; f32Accuracy: number; dropPoints: number;
  calibration: string; weightsBytes: number; arenaBytes: number; flavour: Flavour;
}

export async function evaluateQuant(path: string, o: { bits: 8 | 16; data?: string; limitTest?: number; calibrate?: number; flavour?: Flavour }): Promise<QuantEvalResult> {
  const loaded = loadModel(path);
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
    const accuracy = (image: ModelImage): number => {
      const runner = new ImageRunner(core, image);
      const source = dataSource(test, image.spec);
      const row = new Uint8Array(rowBytes(image.inputs));
      let correct = 0;
      for (let r = 0; r < test.count; r++) {
        writeRow(row, 0, image.inputs, source, r);
        runner.run(row, 0);
        if (classOf(image.classRule === 'argmaxI32' ? 'argmaxF32' : image.classRule, runner.scores()) === test.target.data[r]) correct++;
      }
      return correct / test.count;
    };
    const qImage = layoutQuant(q, { base, bits: o.bits });
    const testAccuracy = accuracy(qImage);
    const f32Accuracy = accuracy(buildImage(model, { base }));
    return {
      dataset: test.name, testSamples: test.count, bits: o.bits, testAccuracy, f32Accuracy, dropPoints: 100 * (f32Accuracy - testAccuracy),
      calibration: cal.from, weightsBytes: qImage.weightsBytes, arenaBytes: qImage.arenaBytes, flavour: core.flavour,
    };
  } finally {
    closeDataset(test);
  }
}
