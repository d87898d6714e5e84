// Cost model: multiply-accumulates (MACs) and bytes moved per layer, forward and backward, and on a
// device profile a roofline time and an energy estimate. Every number here is an estimate from
// peak figures; `estimate().assumptions` lists what was assumed or missing for the device at hand.
//
// MACs: half the flops of the layer's contraction plan (src/tn/plan.ts: the path btnn's runtime
// really runs for this batch, one lane), times nothing more: the plan's counts are per step. Bias
// adds, activations (ReLU) and the loss are not counted. The backward pass is counted only in
// 'train' mode; the first layer skips its input gradient.
//
// Bytes moved: every operand of every op of the plan's programs is read once and every result
// written once (programTrafficFloats in src/tn/compile.ts: GEMM operands, permutes, gathers), plus
// the bias add (read bias, read+write y) forward and the bias gradient (read dy, write dbias)
// backward; each element takes bits/8 bytes. Cache and register reuse inside a kernel are ignored
// and so is alignment, so this is an UPPER bound on the traffic to the memory level holding the
// buffers (a tiled kernel with a cache moves less).
//
// Time (roofline), per layer:
//   computeMs = MACs / (macsPerCycle[bits] · clockHz · cores) · 1000, with bits 8 → int8,
//               16 → int16, 32 → f32, at the profile's PEAK rate (no efficiency factor: a lower
//               bound on the time)
//   memoryMs  = bytes / bandwidthBytesPerSec · 1000 of ONE memory level: among the levels whose
//               `use` includes "activations", the fastest (highest known bandwidth; unknown last)
//               whose capacity is ≥ the layer's bytes moved (traffic counts every buffer the layer
//               touches at least once, so it bounds the layer's footprint from above); if none is
//               that large, the largest such level
//   ms        = max(computeMs, memoryMs): compute and transfers are taken to overlap perfectly;
//               bound = 'compute' when computeMs ≥ memoryMs, else 'memory'
// A null MAC rate or bandwidth makes that term 0; the layer is flagged ('no-mac-rate',
// 'no-bandwidth') and a line is added to `assumptions`.
//
// Energy (energyPj of the profile, e.g. Horowitz's 45 nm table; µJ = pJ / 1e6), per layer:
//   MACs · (multiply + add):  8 bits → int8Mult + int32Add (int8 products accumulate in int32)
//                             16 bits → int32Mult + int32Add (the table has no 16-bit integer
//                               multiply; the 32-bit one is an upper bound, about 4× a 16-bit one)
//                             32 bits → fp32Mult + fp32Add
//   + bytes / 8 · (energy of one 64-bit access to the chosen level):
//       bram → sram8KiBRead64 (a block RAM is 4 KiB, the smallest SRAM in the table)
//       sram → the first of sram8KiBRead64 / sram32KiBRead64 / sram1MiBRead64 whose size is ≥ the
//              level's bytes (else the largest of them given); larger arrays cost more per read
//       dram, psram → dramRead64Max (off-chip; the upper end of the table's range)
//     Writes are charged as reads (the table gives reads only).
// A missing or null energy field skips that term (it counts 0) and adds a line to `assumptions`.

import type { LayerSpec } from '../src/spec/formats.js';
import { tensorLayers, type ModelSpec } from '../src/spec/types.js';
import { layerParams } from '../src/model/layers.js';
import { planLayer, type PathPlan } from '../src/tn/plan.js';
import { programTrafficFloats } from '../src/tn/compile.js';
import type { DeviceProfile, EnergyKey, MemoryLevel } from './devices.js';
import { showValue } from '../src/util/show.js';

export type CostMode = 'train' | 'infer';
export type CostBits = 8 | 16 | 32;

export interface LayerCost {
  name: string;
  forwardMacs: number;
  backwardMacs: number;
  forwardBytes: number;
  backwardBytes: number;
}

export type LayerFlag = 'no-mac-rate' | 'no-bandwidth' | 'no-memory-level';

export interface LayerEstimate {
  name: string;
  /** Forward + backward (train) or forward (infer) MACs for the whole batch. */
  macs: number;
  /** Bytes moved for the whole batch (upper bound, see the header). */
  bytes: number;
  computeMs: number;
  memoryMs: number;
  /** max(computeMs, memoryMs). */
  ms: number;
  bound: 'compute' | 'memory';
  energyUj: number;
  /** Memory level whose bandwidth and energy were used ('' when none). */
  memoryLevel: string;
  /** Terms that were unknown on this device and counted as 0. */
  flags: LayerFlag[];
}

export interface CostEstimate {
  layers: LayerEstimate[];
  totalMs: number;
  totalEnergyUj: number;
  assumptions: string[];
}

export interface EstimateOptions {
  batch: number;
  mode: CostMode;
  bits: CostBits;
  /** Per-layer contraction workspace budget (f32 bytes) the planner must respect (default: none). */
  budgetBytes?: number;
}

function checkArgs(batch: number, mode: string, bits: number): void {
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`batch = ${batch}: must be an integer >= 1`);
  if (mode !== 'train' && mode !== 'infer') throw new RangeError(`mode = ${showValue(mode)}: must be "train" or "infer"`);
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new RangeError(`bits = ${bits}: must be 8, 16 or 32`);
}

/** Element counts moved by one layer's programs (see the header). */
function layerElements(layer: LayerSpec, plan: PathPlan, batch: number): { forward: number; backward: number } {
  const y = batch * layer.outFeatures;
  const bias = layer.outFeatures;
  return {
    forward: programTrafficFloats([...plan.prep, ...plan.forward]) + bias + 2 * y,
    backward: programTrafficFloats([...plan.backward, ...plan.finish]) + y + bias,
  };
}

/**
 * MACs and bytes moved by one layer for a batch. `needInputGrad` is false for the first layer of a
 * network (nothing consumes its input gradient). In 'infer' mode the backward terms are 0.
 */
export function layerCost(layer: LayerSpec, batch: number, mode: CostMode, bits: CostBits, needInputGrad: boolean, budgetBytes?: number): LayerCost {
  checkArgs(batch, mode, bits);
  const bytesPer = bits / 8;
  const train = mode === 'train';
  const plan = planLayer(layer, { laneRows: batch, lanes: 1, train, needInputGrad, budgetBytes }).chosen;
  const el = layerElements(layer, plan, batch);
  return {
    name: layer.name,
    forwardMacs: plan.forwardFlops / 2,
    backwardMacs: train ? plan.backwardFlops / 2 : 0,
    forwardBytes: el.forward * bytesPer,
    backwardBytes: train ? el.backward * bytesPer : 0,
  };
}

const MAC_KEY = { 8: 'int8', 16: 'int16', 32: 'f32' } as const;
const MAC_ENERGY: Record<CostBits, [EnergyKey, EnergyKey]> = {
  8: ['int8Mult', 'int32Add'],
  16: ['int32Mult', 'int32Add'],
  32: ['fp32Mult', 'fp32Add'],
};
const SRAM_KEYS: [EnergyKey, number][] = [['sram8KiBRead64', 8 * 1024], ['sram32KiBRead64', 32 * 1024], ['sram1MiBRead64', 1024 * 1024]];

/** The level a layer's buffers are taken to live in (rule in the header), or undefined. */
export function chooseLevel(device: DeviceProfile, bytes: number): MemoryLevel | undefined {
  const levels = device.memory.filter((m) => m.use.includes('activations'));
  if (levels.length === 0) return undefined;
  const fits = levels
    .filter((m) => m.bytes >= bytes)
    .sort((p, q) => (q.bandwidthBytesPerSec ?? -1) - (p.bandwidthBytesPerSec ?? -1));
  if (fits.length > 0) return fits[0];
  return levels.reduce((big, m) => (m.bytes > big.bytes ? m : big));
}

/** Energy key for one 64-bit access to `level`, or undefined when the table gives none that applies. */
function accessKey(device: DeviceProfile, level: MemoryLevel): EnergyKey | undefined {
  const e = device.energyPj;
  const known = (k: EnergyKey) => e !== null && typeof e[k] === 'number';
  switch (level.kind) {
    case 'bram':
      return 'sram8KiBRead64';
    case 'sram': {
      const given = SRAM_KEYS.filter(([k]) => known(k));
      if (given.length === 0) return 'sram1MiBRead64';
      return (given.find(([, size]) => size >= level.bytes) ?? given[given.length - 1])[0];
    }
    case 'dram':
    case 'psram':
      return 'dramRead64Max';
    default:
      return undefined; // flash and cache never hold activations
  }
}

/** Roofline time and energy of every layer of `spec` on `device` (model and caveats in the header). */
export function estimate(spec: ModelSpec, device: DeviceProfile, opts: EstimateOptions): CostEstimate {
  const { batch, mode, bits } = opts;
  checkArgs(batch, mode, bits);
  const notes = new Set<string>([
    `time: roofline max(compute, memory) at the profile's peak MAC rate and peak bandwidth (no efficiency factor): a lower bound`,
    `bytes: every operand read and every result written once per kernel call at ${bits / 8} byte(s) per element, cache reuse ignored: an upper bound on traffic`,
    `memory level per layer: fastest level holding activations whose capacity is >= the layer's bytes moved, else the largest`,
    `energy per MAC at ${bits} bits: ${MAC_ENERGY[bits].join(' + ')}; memory: bytes/8 x one 64-bit access of the level (writes charged as reads)`,
  ]);
  if (bits === 16) notes.add('16-bit MAC energy uses int32Mult (the table has no 16-bit multiply): an upper bound');
  notes.add(device.energyPj ? `energy basis: ${device.energyPj.basis}` : `energyPj is null on ${device.id}: energy counted as 0`);

  const energyOf = (key: EnergyKey): number => {
    const v = device.energyPj?.[key];
    if (typeof v === 'number') return v;
    if (device.energyPj) notes.add(`energyPj.${key} is missing on ${device.id}: that term counts 0`);
    return 0;
  };

  const macKey = MAC_KEY[bits];
  const macsPerCycle = device.compute.macsPerCycle[macKey];
  if (macsPerCycle === null) notes.add(`compute.macsPerCycle.${macKey} is null on ${device.id}: compute time counted as 0 (layers flagged no-mac-rate)`);
  const macRate = macsPerCycle === null ? 0 : macsPerCycle * device.compute.clockHz * device.compute.cores;
  const macPj = energyOf(MAC_ENERGY[bits][0]) + energyOf(MAC_ENERGY[bits][1]);

  const layers = tensorLayers(spec).map((layer, i): LayerEstimate => {
    const c = layerCost(layer, batch, mode, bits, i > 0, opts.budgetBytes);
    const macs = c.forwardMacs + c.backwardMacs;
    const bytes = c.forwardBytes + c.backwardBytes;
    const flags: LayerFlag[] = [];
    let computeMs = 0;
    if (macRate > 0) computeMs = (macs / macRate) * 1000;
    else flags.push('no-mac-rate');

    const level = chooseLevel(device, bytes);
    let memoryMs = 0;
    let accessPj = 0;
    if (!level) {
      flags.push('no-memory-level');
      notes.add(`${device.id} has no memory level with use "activations": memory time and energy counted as 0`);
    } else {
      if (level.bandwidthBytesPerSec === null) {
        flags.push('no-bandwidth');
        notes.add(`memory "${level.name}" of ${device.id} has bandwidthBytesPerSec null: memory time counted as 0 (layers flagged no-bandwidth)`);
      } else {
        memoryMs = (bytes / level.bandwidthBytesPerSec) * 1000;
      }
      const key = accessKey(device, level);
      if (key) accessPj = energyOf(key);
    }
    const energyPj = macs * macPj + (bytes / 8) * accessPj;
    return {
      name: layer.name, macs, bytes, computeMs, memoryMs,
      ms: Math.max(computeMs, memoryMs),
      bound: computeMs >= memoryMs ? 'compute' : 'memory',
      energyUj: energyPj / 1e6,
      memoryLevel: level?.name ?? '',
      flags,
    };
  });
  return {
    layers,
    totalMs: layers.reduce((s, l) => s + l.ms, 0),
    totalEnergyUj: layers.reduce((s, l) => s + l.energyUj, 0),
    assumptions: [...notes],
  };
}
