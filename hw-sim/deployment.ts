// What an exported model needs on a device (`btnn export`, one row at a time): the constants
// (weights in their tensor format at the bit width, biases, input tables) and the linked program
// are read-only and go to flash where the device has it; the arena (inputs, activations,
// workspaces, planned by lifetime) goes to RAM. The figures are those of the export's own image
// (src/export), built from the spec alone: sizes do not depend on the weights' values or the
// calibration, so a spec suffices. Posterior scales and rank variances never count (the export
// drops them), and the int32 accumulators are registers of one output element (the integer GEMM
// requantises each element as it finishes): no accumulator buffer.
import type { ModelSpec } from '../src/spec/types.js';
import { modelTensors } from '../src/model/layers.js';
import { buildImage, type ModelImage } from '../src/image/image.js';
import { quantiseModel, layoutQuant } from '../src/image/quant-image.js';
import type { DeviceProfile } from './devices.js';
import type { CostBits as SimBits } from './cost-model.js';

export interface DeploymentBuffer { name: string; bytes: number; where: 'flash' | 'ram'; kind: string }

export interface Deployment {
  /** Constants + program (flashBytes, with the 16-byte alignment between them): flash when the device has flash for weights, else RAM. */
  weightsBytes: number; tablesBytes: number; programBytes: number; arenaBytes: number;
  flashBytes: number; ramBytes: number;
  /** Flash for weights on the device (null: none; constants then count against the RAM budget). */
  flashBudgetBytes: number | null; ramBudgetBytes: number;
  fitsFlash: boolean; fitsRam: boolean;
  /** The largest single consumer of the memory that does not fit (or of RAM when everything fits). */
  biggest: DeploymentBuffer;
  buffers: DeploymentBuffer[];
}

/** The export's image of `spec` at `bits` (zero weights, no calibration rows: only the layout matters). */
export function deploymentImage(spec: ModelSpec, bits: SimBits, arenaBytes?: number): ModelImage {
  const tensors = new Map(modelTensors(spec).map((t) => [t.name, { name: t.name, shape: t.shape, data: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) }]));
  const model = { spec, tensors, metadata: {} };
  if (bits === 32) return buildImage(model, { base: 0, arenaBytes });
  const q = quantiseModel(model, { bits, arenaBytes, calibration: { source: { inputs: {} }, rows: 0 } });
  return layoutQuant(q, { base: 0, bits, arenaBytes });
}

export function deployment(spec: ModelSpec, device: DeviceProfile, bits: SimBits): Deployment {
  const image = deploymentImage(spec, bits);
  const flashLevels = device.memory.filter((m) => m.kind === 'flash' && m.use.includes('weights'));
  const flashBudgetBytes = flashLevels.length ? flashLevels.reduce((s, m) => s + m.bytes, 0) : null;
  const programBytes = image.program.length * 4;
  const constBytes = image.constBytes.length + programBytes;
  const constWhere = flashBudgetBytes === null ? 'ram' as const : 'flash' as const;
  const flashBytes = constWhere === 'flash' ? constBytes : 0;
  const ramBytes = image.arenaBytes + (constWhere === 'ram' ? constBytes : 0);
  const buffers: DeploymentBuffer[] = [
    { name: 'weights', bytes: image.weightsBytes, where: constWhere, kind: 'params' },
    { name: 'biases and input tables', bytes: image.tablesBytes, where: constWhere, kind: 'params' },
    { name: 'program', bytes: programBytes, where: constWhere, kind: 'meta' },
    ...image.arenaPlan.buffers.map((b) => ({ name: b.name, bytes: b.bytes, where: 'ram' as const, kind: b.kind })),
  ];
  const fitsFlash = flashBudgetBytes === null || flashBytes <= flashBudgetBytes;
  const fitsRam = ramBytes <= device.budgetBytes;
  const pool = !fitsFlash ? buffers.filter((b) => b.where === 'flash') : buffers.filter((b) => b.where === 'ram');
  const biggest = [...pool].sort((a, b) => b.bytes - a.bytes)[0];
  return {
    weightsBytes: image.weightsBytes, tablesBytes: image.tablesBytes, programBytes, arenaBytes: image.arenaBytes,
    flashBytes, ramBytes, flashBudgetBytes, ramBudgetBytes: device.budgetBytes, fitsFlash, fitsRam, biggest, buffers,
  };
}
