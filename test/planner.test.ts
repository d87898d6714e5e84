// The contraction planner: optimal trees on hand-checkable networks, the reconstruct/direct
// crossover on each side (batch, rank, budget), budgets respected, and errors that say what to do.
import t from 'tap';
import { EXACT_MAX_TENSORS, exactPath, optimalPath, pathSearchStats, type Tree } from '../src/tn/path.js';
import { layerNetwork, BATCH } from '../src/tn/network.js';
import { planLayer, BudgetError } from '../src/tn/plan.js';
import { formatRanks, type LayerFormat, type LayerSpec } from '../src/spec/formats.js';

const prod = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);
const layerOf = (format: LayerFormat, inModes: number[], outModes: number[], maxRank: number): LayerSpec => ({
  name: 'l', format, inFeatures: prod(inModes), outFeatures: prod(outModes), activation: 'none', inModes, outModes,
  ranks: formatRanks(format, inModes, outModes, maxRank),
});

t.test('optimalPath: a matrix chain takes the cheap order, and counts flops by hand', async (t) => {
  // A[a,b]·B[b,c]·C[c,d] with a=10, b=100, c=5, d=50: (AB)C costs 2·(10·100·5 + 10·5·50) = 15 000,
  // A(BC) costs 2·(100·5·50 + 10·100·50) = 150 000.
  const dims = { a: 10, b: 100, c: 5, d: 50 };
  const terms = [{ indices: ['a', 'b'], needsGrad: false }, { indices: ['b', 'c'], needsGrad: false }, { indices: ['c', 'd'], needsGrad: false }];
  const p = optimalPath(terms, ['a', 'd'], dims)!;
  t.equal(p.forwardFlops, 15000);
  t.same(p.tree, { left: { left: { leaf: 0 }, right: { leaf: 1 } }, right: { leaf: 2 } });
  t.equal(p.savedFloats, 50, 'one intermediate AB [10×5]');
  // With gradients wanted for every term, each contraction costs 3× (forward + two operand grads).
  const g = optimalPath(terms.map((x) => ({ ...x, needsGrad: true })), ['a', 'd'], dims)!;
  t.equal(g.forwardFlops + g.backwardFlops, 3 * 15000);
  // An intermediate limit below AB's 50 floats forces the other order, whose BC is 500 floats: none fits.
  t.equal(optimalPath(terms, ['a', 'd'], dims, 49), null);
});

t.test('crossover: reconstruct for large batches at high rank, direct for small batches', async (t) => {
  const layer = layerOf('ttm', [7, 4, 7, 4], [4, 4, 8, 4], 20);
  const big = planLayer(layer, { laneRows: 256, lanes: 1, train: true, needInputGrad: true });
  t.equal(big.chosen.kind, 'reconstruct', `batch 256, rank 20: ${big.chosen.kind}, ${(big.chosen.flopsPerSample / 1e6).toFixed(2)} MFLOP/sample`);
  const direct = big.candidates.find((c) => c.kind === 'direct')!;
  t.ok(direct.cost > big.chosen.cost, 'the direct path was considered and costs more');
  const one = planLayer(layer, { laneRows: 1, lanes: 1, train: true, needInputGrad: true });
  t.equal(one.chosen.kind, 'direct', `batch 1: ${one.chosen.kind} (${one.chosen.order})`);
  const recon = one.candidates.find((c) => c.kind === 'reconstruct')!;
  t.ok(recon.cost > one.chosen.cost, `reconstructing W for one sample costs more (${recon.cost.toFixed(0)} vs ${one.chosen.cost.toFixed(0)} model ns)`);
  // Low rank favours direct contraction even at batch 256.
  const low = planLayer(layerOf('ttm', [7, 4, 7, 4], [4, 4, 8, 4], 2), { laneRows: 256, lanes: 1, train: true, needInputGrad: true });
  t.equal(low.chosen.kind, 'direct', `rank 2 at batch 256: ${low.chosen.kind}`);
});

t.test('a tight budget forces direct contraction; an impossible one is a BudgetError', async (t) => {
  // 512×512 TTM, rank 20, 16 rows: reconstructing W is cheapest but needs W, dW and the
  // reconstruction's intermediates; contracting x core by core costs more flops and less memory.
  // (At rank 16 the fitted rates already price direct below reconstruct.)
  const layer = layerOf('ttm', [8, 8, 8], [8, 8, 8], 20);
  const o = { laneRows: 16, lanes: 1, train: true, needInputGrad: true };
  const free = planLayer(layer, o);
  t.equal(free.chosen.kind, 'reconstruct');
  const recon = free.chosen.workspaceBytes;
  const lean = Math.min(...free.candidates.map((c) => c.workspaceBytes));
  t.ok(lean < recon, `some path needs less than reconstruct's ${recon} bytes (leanest ${lean})`);
  const tight = planLayer(layer, { ...o, budgetBytes: lean });
  t.equal(tight.chosen.kind, 'direct');
  t.equal(tight.chosen.workspaceBytes, lean, 'the only path that fits is taken');
  t.ok(tight.chosen.flopsPerSample > free.chosen.flopsPerSample, `and pays in flops: ${tight.chosen.flopsPerSample} > ${free.chosen.flopsPerSample}`);
  for (const c of tight.candidates) t.equal(c.fits, c.workspaceBytes <= lean);
  t.throws(() => planLayer(layer, { ...o, budgetBytes: lean - 1 }),
    new BudgetError(`layer l (ttm): every contraction path needs more workspace than the budget of ${lean - 1} bytes; the leanest needs ${lean} bytes at 16 rows per lane. Raise --workspace-mib or lower --batch`));
});

t.test('every format: the planner never picks a path costlier than another fitting one', async (t) => {
  for (const format of ['cp', 'tucker', 'tt', 'ttm', 'tr'] as const) {
    for (const rows of [1, 16, 256]) {
      const p = planLayer(layerOf(format, [4, 7, 4, 7], [4, 4, 8, 4], format === 'cp' ? 50 : 8), { laneRows: rows, lanes: 1, train: true, needInputGrad: true });
      t.equal(p.chosen.cost, Math.min(...p.candidates.filter((c) => c.fits).map((c) => c.cost)), `${format} B=${rows}: ${p.chosen.kind} ${p.chosen.order}`);
    }
  }
});

t.test('12-mode layers: the search is bounded (exact up to EXACT_MAX_TENSORS tensors, greedy then exact above)', async (t) => {
  // Counted, not timed: the exhaustive search visited ~3^n/2 splits per limit (n = 14: 2.4 M, tens of seconds per layer).
  for (const format of ['tt', 'tucker'] as const) {
    const layer = layerOf(format, [2, 2, 2, 2, 2, 2], [2, 2, 2, 2, 2, 2], 8);
    pathSearchStats.states = 0;
    const p = planLayer(layer, { laneRows: 16, lanes: 4, train: true, needInputGrad: true });
    t.ok(pathSearchStats.states < 1_000_000, `${format} 12 modes: ${pathSearchStats.states} states searched (< 1e6), chose ${p.chosen.order}`);
    t.ok(p.candidates.length >= 2);
  }
  // The sizes planned today (≤ EXACT_MAX_TENSORS tensors) still get the exact search.
  t.equal(EXACT_MAX_TENSORS, 10);
});

t.test('above EXACT_MAX_TENSORS: a valid tree within a small factor of the exact optimum', async (t) => {
  const leaves = (tree: Tree): number[] => ('leaf' in tree ? [tree.leaf] : [...leaves(tree.left), ...leaves(tree.right)]);
  let worst = 1;
  for (const format of ['tt', 'tucker', 'cp', 'tr'] as const) {
    for (const [d, m, rank, rows] of [[5, 2, 8, 16], [5, 3, 5, 1], [5, 2, 20, 256], [5, 4, 4, 16], [6, 2, 20, 1], [6, 2, 8, 16]] as const) {
      const layer = layerOf(format, Array(d).fill(m), Array(d).fill(m), rank);
      const net = layerNetwork(layer);
      const terms = [...net.factors.map((f) => ({ indices: f.indices, needsGrad: true })), { indices: [BATCH, ...net.inIndices], needsGrad: true }];
      if (terms.length <= EXACT_MAX_TENSORS) continue;
      const dims = { ...net.dims, [BATCH]: rows }, out = [BATCH, ...net.outIndices];
      const exact = exactPath(terms, out, dims)!, bounded = optimalPath(terms, out, dims)!;
      t.same(leaves(bounded.tree).sort((a, b) => a - b), terms.map((_, i) => i), `${format} m=${m} r=${rank} b=${rows}: every tensor once`);
      const ratio = (bounded.forwardFlops + bounded.backwardFlops) / (exact.forwardFlops + exact.backwardFlops);
      t.ok(ratio >= 1 && ratio <= 2, `${format} m=${m} r=${rank} b=${rows} (${terms.length} tensors): ${ratio.toFixed(3)}× the optimum`);
      worst = Math.max(worst, ratio);
      // Under a limit below the optimum's largest intermediate, every intermediate respects it.
      const limit = exact.largestFloats - 1;
      const tight = optimalPath(terms, out, dims, limit);
      if (tight) t.ok(tight.largestFloats <= limit, `limit ${limit} respected`);
    }
  }
  t.ok(worst <= 2, `worst ${worst.toFixed(3)}×`);
});

t.test('reconstruct path: one shared dW for all lanes, formed by the finish jobs from all lanes\' x and dy in one GEMM', async (t) => {
  const { loadCore } = await import('../src/core/wasm.js');
  const { Runtime } = await import('../src/runtime/runtime.js');
  const { defaultSpec } = await import('../src/spec/defaults.js');
  const core = await loadCore('node');
  const rt = new Runtime(core, defaultSpec('ttm'), 128, 'train', { lanes: 4, path: 'reconstruct' });
  const fc1 = rt.prepared.layerPlans.find((p) => p.layer.name === 'fc1')!;
  t.ok(fc1.chosen.finishReadsLanes, 'fc1 forms dW in finish');
  t.notOk(fc1.chosen.laneBuffers.some((b) => b.name === 'dW'), 'no lane has a dW of its own');
  const wBytes = 784 * 512 * 4;
  const wSized = rt.plan.buffers.filter((b) => b.bytes === wBytes).map((b) => b.name).sort();
  t.same(wSized, ['fc1.W', 'fc1.dW'], `W-sized buffers: ${wSized.join(', ')}`);
  // Each finish job of fc1 starts with one GEMM into its rows of dW, reducing over all 128 rows.
  const jobs = fc1.chosen.finishJobs;
  t.equal(jobs.length, 4, '4 chunks');
  let row = 0;
  for (const job of jobs) {
    const g = job[0];
    t.ok(g.op === 'gemm' && g.a.buf === 'x.lanes' && g.b.buf === 'dy.lanes' && !g.acc && g.k === 1 && g.t === 128 && g.a.off === row,
      `chunk from row ${row}: one writing GEMM over all lanes' rows`);
    if (g.op === 'gemm') row += g.m;
  }
  t.equal(row, 784, 'the chunks cover W\'s rows');
  // Every lane's x and dy are rows of one buffer, lane after lane, alive until finish.
  const finishAt = Math.max(...rt.plan.buffers.filter((b) => b.name === 'fc1.dW').map((b) => b.lastUse));
  for (const [all, laneKey, laneBytes] of [['lanes/x', (l: number) => `lane${l}/x`, 32 * 784 * 4], ['lanes/fc1/grad', (l: number) => `lane${l}/fc1/grad`, 32 * 512 * 4]] as const) {
    const b = rt.plan.buffers.find((x) => x.name === all)!;
    t.ok(b && b.bytes === 4 * laneBytes && b.lastUse >= finishAt, `${all}: 4 lanes' rows, alive until finish`);
    for (let l = 0; l < 4; l++) {
      const v = rt.prepared.views.find((x) => x.key === laneKey(l))!;
      t.same([v.buffer, v.offsetBytes], [all, l * laneBytes], `${laneKey(l)} is rows ${l * 32}.. of ${all}`);
    }
  }
  await rt.close();
});
