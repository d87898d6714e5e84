// Cost model: hand-computed MACs and bytes for the default MNIST dense and TTM networks, the
// backward/forward ratios, bytes scaling with the bit width, the roofline picking compute or memory
// as the bandwidth changes, energy linear in the batch, and an estimate on every built-in device.
import t from 'tap';
import { chooseLevel, estimate, layerCost, type CostBits } from '../hw-sim/cost-model.js';
import { listDevices, loadDevice, type DeviceProfile, type MemoryLevel } from '../hw-sim/devices.js';
import { planLayer } from '../src/tn/plan.js';
import { defaultSpec } from '../src/spec/defaults.js';
import { tensorLayers } from '../src/spec/types.js';

const dense = defaultSpec('dense', 20);
const ttm = defaultSpec('ttm', 20);
// The weight-carrying layers (fc1, fc2; the ReLU between them is a layer of its own in spec v2).
const denseLayers = tensorLayers(dense);
const ttmLayers = tensorLayers(ttm);

/** A built-in profile with one memory level and the given rates (other fields kept). */
function synthetic(bandwidth: number | null, macsPerCycle: number | null = 1): DeviceProfile {
  const p = structuredClone(loadDevice('stm32h7'));
  const ram: MemoryLevel = { name: 'ram', kind: 'sram', bytes: 1 << 30, bandwidthBytesPerSec: bandwidth, use: ['weights', 'activations', 'scratch'] };
  p.memory = [ram];
  p.compute = { clockHz: 100e6, cores: 2, simdBits: null, macsPerCycle: { f32: macsPerCycle, int16: macsPerCycle, int8: macsPerCycle } };
  return p;
}

t.test('dense MNIST: MACs per sample 784·512 and 512·10, backward 1× for fc1 and 2× for fc2', async (t) => {
  const [fc1, fc2] = denseLayers;
  const c1 = layerCost(fc1, 1, 'train', 32, false);
  const c2 = layerCost(fc2, 1, 'train', 32, true);
  t.equal(c1.forwardMacs, 401408);
  t.equal(c1.backwardMacs, 401408, 'no input gradient for the first layer: only the weight gradient');
  t.equal(c2.forwardMacs, 5120);
  t.equal(c2.backwardMacs, 10240);
  const b5 = layerCost(fc1, 5, 'train', 32, false);
  t.equal(b5.forwardMacs, 5 * 401408, 'MACs scale with the batch');
  const inf = layerCost(fc2, 5, 'infer', 32, true);
  t.equal(inf.backwardMacs, 0);
  t.equal(inf.backwardBytes, 0);
});

t.test('dense bytes: hand values, and 8-bit moves exactly 1/4 of 32-bit', async (t) => {
  const fc2 = denseLayers[1];
  const c = layerCost(fc2, 2, 'train', 32, true);
  // forward: GEMM reads x 2·512 and W 5120, writes y 2·10; bias add reads bias 10, reads+writes y
  t.equal(c.forwardBytes, (1024 + 5120 + 20 + 10 + 40) * 4);
  // backward: dW = xᵀ·dy (x 1024, dy 20, dW 5120); dx = dy·Wᵀ as (W·dyᵀ)ᵀ: dy permuted (2·20),
  // GEMM (W 5120, dyᵀ 20, dxᵀ 1024), dxᵀ permuted (2·1024); bias gradient (dy 20, dbias 10)
  t.equal(c.backwardBytes, (1024 + 20 + 5120 + 40 + 5120 + 20 + 1024 + 2048 + 20 + 10) * 4);
  for (const layer of denseLayers) {
    const c8 = layerCost(layer, 3, 'train', 8, true);
    const c32 = layerCost(layer, 3, 'train', 32, true);
    const c16 = layerCost(layer, 3, 'train', 16, true);
    t.equal(c32.forwardBytes, 4 * c8.forwardBytes);
    t.equal(c32.backwardBytes, 4 * c8.backwardBytes);
    t.equal(c16.forwardBytes, 2 * c8.forwardBytes);
    t.equal(c8.forwardMacs, c32.forwardMacs, 'MACs do not depend on the bit width');
  }
});

t.test('tensor layers: MACs are half the chosen path\'s flops; the direct TTM path by hand', async (t) => {
  const [fc1, fc2] = ttmLayers;
  t.same(fc1.ranks, [1, 20, 20, 16, 1]);
  t.same(fc2.ranks, [1, 20, 1]);
  for (const layer of ttmLayers) {
    const plan = planLayer(layer, { laneRows: 4, lanes: 1, train: true, needInputGrad: layer === fc2 });
    const c = layerCost(layer, 4, 'train', 32, layer === fc2);
    t.equal(c.forwardMacs, plan.chosen.forwardFlops / 2);
    t.equal(c.backwardMacs, plan.chosen.backwardFlops / 2);
  }
  // At one sample and a budget below W's size the planner must contract core by core; fc2 then
  // costs x·G_0 (16·32·2·20 MACs) and ·G_1 (2·32·20·5), i.e. 20 480 + 6 400.
  const lean = planLayer(fc2, { laneRows: 1, lanes: 1, train: false, needInputGrad: true, budgetBytes: 3000 * 4 });
  t.equal(lean.chosen.kind, 'direct');
  t.equal(lean.chosen.forwardFlops / 2, 32 * 16 * 2 * 20 + 2 * 32 * 20 * 5);
});

t.test('roofline: compute-bound with huge bandwidth, memory-bound with tiny bandwidth', async (t) => {
  const fast = estimate(dense, synthetic(1e15), { batch: 8, mode: 'train', bits: 32 });
  for (const l of fast.layers) {
    t.equal(l.bound, 'compute', `${l.name} compute-bound`);
    t.equal(l.ms, l.computeMs);
    t.same(l.flags, []);
  }
  // fc1: 8 · (401408 + 401408) MACs at 1 MAC/cycle · 100 MHz · 2 cores
  t.equal(fast.layers[0].macs, 8 * 2 * 401408);
  t.ok(Math.abs(fast.layers[0].computeMs - (8 * 2 * 401408) / 2e8 * 1000) < 1e-9);
  const slow = estimate(dense, synthetic(1e3), { batch: 8, mode: 'train', bits: 32 });
  for (const l of slow.layers) {
    t.equal(l.bound, 'memory', `${l.name} memory-bound`);
    t.equal(l.ms, l.memoryMs);
    t.ok(Math.abs(l.memoryMs - (l.bytes / 1e3) * 1000) < 1e-6 * l.memoryMs);
  }
  t.ok(slow.totalMs > fast.totalMs);
});

t.test('null MAC rate or bandwidth: term is 0, layer flagged, assumption stated', async (t) => {
  const noBw = estimate(dense, synthetic(null), { batch: 1, mode: 'infer', bits: 32 });
  t.ok(noBw.layers.every((l) => l.memoryMs === 0 && l.flags.includes('no-bandwidth') && l.ms === l.computeMs));
  t.ok(noBw.assumptions.some((a) => a.includes('bandwidthBytesPerSec null')));
  const noMac = estimate(dense, synthetic(1e9, null), { batch: 1, mode: 'infer', bits: 8 });
  t.ok(noMac.layers.every((l) => l.computeMs === 0 && l.flags.includes('no-mac-rate') && l.bound === 'memory'));
  t.ok(noMac.assumptions.some((a) => a.includes('macsPerCycle.int8 is null')));
  const noEnergy = synthetic(1e9);
  noEnergy.energyPj = { basis: 'partial', fp32Mult: 3.7 };
  const e = estimate(dense, noEnergy, { batch: 1, mode: 'infer', bits: 32 });
  t.ok(e.assumptions.some((a) => a.includes('energyPj.fp32Add is missing')));
  t.ok(e.assumptions.some((a) => a.includes('energyPj.sram8KiBRead64') || a.includes('sram1MiBRead64')));
  t.ok(Math.abs(e.totalEnergyUj - (401408 + 5120) * 3.7 / 1e6) < 1e-12, 'only the given multiply energy counts');
});

t.test('energy: hand value at 8 bits, and linear in the batch', async (t) => {
  const p = synthetic(1e9);
  const e = estimate(dense, p, { batch: 1, mode: 'infer', bits: 8 });
  const fc2 = e.layers[1];
  // 5120 MACs · (int8Mult 0.2 + int32Add 0.1) + (GEMM: W 5120 + x 512 + y 10; bias add: bias 10,
  // y read + written 20) bytes / 8 · sram1MiBRead64 100 pJ (the level is 1 GiB, larger than every
  // SRAM of the table)
  t.equal(fc2.bytes, 5672);
  t.ok(Math.abs(fc2.energyUj - (5120 * 0.3 + (5672 / 8) * 100) / 1e6) < 1e-12);
  // Inference of the dense model only: in training the planner may lay out dx = dy·Wᵀ differently
  // at different batch sizes (permute W or dy, whichever is smaller), and a tensor layer may switch
  // paths, so those costs are piecewise linear in the batch.
  for (const [spec, b1, b2] of [[dense, 1, 7], [dense, 4, 12]] as const) {
    for (const mode of ['infer'] as const) {
      const one = estimate(spec, p, { batch: b1, mode, bits: 32 });
      const many = estimate(spec, p, { batch: b2, mode, bits: 32 });
      const perSample = (x: number, b: number) => x / b;
      // energy is linear but not proportional (weights are read once per batch): check the slope
      const mid = estimate(spec, p, { batch: (b1 + b2) / 2, mode, bits: 32 });
      const slope1 = (mid.totalEnergyUj - one.totalEnergyUj) / ((b2 - b1) / 2);
      const slope2 = (many.totalEnergyUj - mid.totalEnergyUj) / ((b2 - b1) / 2);
      t.ok(Math.abs(slope1 - slope2) <= 1e-9 * slope1, `${tensorLayers(spec)[0].format} ${mode}: constant slope`);
      t.ok(perSample(many.totalEnergyUj, b2) < perSample(one.totalEnergyUj, b1), 'larger batches amortize the weight reads');
    }
  }
});

t.test('chooseLevel: fastest level that fits, else the largest', async (t) => {
  const h7 = loadDevice('stm32h7');
  t.equal(chooseLevel(h7, 1000)?.name, 'dtcm');
  t.equal(chooseLevel(h7, 200 * 1024)?.name, 'axi-sram');
  t.equal(chooseLevel(h7, 100 << 20)?.name, 'axi-sram');
  const esp = loadDevice('esp32-s3');
  t.equal(chooseLevel(esp, 1 << 20)?.name, 'psram');
  t.equal(chooseLevel(esp, 1 << 10)?.name, 'sram');
});

t.test('every built-in device: finite positive totals for the TTM model, infer faster than train', async (t) => {
  for (const id of listDevices()) {
    const device = loadDevice(id);
    for (const bits of [8, 16, 32] as CostBits[]) {
      const train = estimate(ttm, device, { batch: 32, mode: 'train', bits });
      const infer = estimate(ttm, device, { batch: 32, mode: 'infer', bits });
      for (const [mode, e] of [['train', train], ['infer', infer]] as const) {
        t.ok(Number.isFinite(e.totalMs) && e.totalMs > 0, `${id} ${bits}-bit ${mode}: time ${e.totalMs} ms`);
        t.ok(Number.isFinite(e.totalEnergyUj) && e.totalEnergyUj > 0, `${id} ${bits}-bit ${mode}: energy ${e.totalEnergyUj} uJ`);
        t.equal(e.layers.length, 2);
        t.ok(e.assumptions.length >= 4);
      }
      t.ok(infer.totalMs < train.totalMs, `${id} ${bits}-bit: infer < train`);
      t.ok(infer.totalEnergyUj < train.totalEnergyUj, `${id} ${bits}-bit: infer energy < train`);
    }
  }
  const rpi4 = estimate(ttm, loadDevice('rpi4'), { batch: 32, mode: 'train', bits: 32 });
  t.ok(rpi4.layers.every((l) => l.flags.includes('no-bandwidth')), 'rpi4 DRAM bandwidth is unknown');
  const fpga = estimate(ttm, loadDevice('artix7-100t'), { batch: 32, mode: 'train', bits: 32 });
  t.ok(fpga.layers.every((l) => l.flags.includes('no-mac-rate') && l.bound === 'memory'), 'artix7 has no f32 MAC rate');
});

t.test('bad arguments fail with the value', async (t) => {
  t.throws(() => layerCost(denseLayers[0], 0, 'train', 32, false), /batch = 0/);
  t.throws(() => estimate(dense, synthetic(1), { batch: 1, mode: 'train', bits: 12 as CostBits }), /bits = 12/);
});
