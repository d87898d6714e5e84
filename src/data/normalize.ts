// Input standardisation: one mean and one std over every pixel of the training split (the
// usual MNIST preprocessing, 0.1307 / 0.3081). Centred inputs let the first layer's factors
// learn faster; the statistics travel with the model (spec.inputNorm) so eval feeds the same.
import type { Dataset } from './mnist.js';

export function inputStats(data: Dataset): { mean: number; std: number } {
  let sum = 0, sumSq = 0;
  const x = data.inputs, n = x.length;
  for (let i = 0; i < n; i++) { const v = x[i]; sum += v; sumSq += v * v; }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(sumSq / n - mean * mean, 0));
  if (!(std > 0)) throw new Error(`${data.name}: every input value is ${mean}; cannot standardise a constant input`);
  // Rounded so the spec's JSON is short and exactly reproducible.
  return { mean: Number(mean.toFixed(6)), std: Number(std.toFixed(6)) };
}

export function normalizeInputs(data: Dataset, norm: { mean: number; std: number }): void {
  const scale = 1 / norm.std;
  const x = data.inputs;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - norm.mean) * scale;
}
