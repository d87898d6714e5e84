// linear: y = x·W + bias with W dense or in a tensor format. The contraction planner
// (src/tn/plan.ts) picks the path; its programs are bound to this layer's buffers here.
//   direct       per lane: x contracted with the factors; backward gives the factor and x gradients
//   reconstruct  prep rebuilds W once per step; per lane y = x·W, dx = dy·Wᵀ; finish forms
//                dW = Σ_lanes xᵀ·dy (lane order) and pushes it through the reconstruction
import type { LinearSpec } from '../spec/types.js';
import type { LayerPlan } from '../tn/plan.js';
import type { Op } from '../tn/compile.js';
import { layerTensors } from '../model/layers.js';
import { completeGrad, gradDst, rebind, ref, type LowerContext } from './context.js';
import type { LayerProgram } from './types.js';

export function lowerLinear(ctx: LowerContext, plan: LayerPlan): LayerProgram & { laneGrads: string[] } {
  const layer = ctx.layer as LinearSpec;
  const { chosen } = plan;
  const t = ctx.t, i = ctx.index;
  const n = layer.name, cols = layer.outFeatures, rows = ctx.laneRows;
  const shared = new Map<string, string>();
  for (const b of chosen.sharedBuffers) {
    // W lives from prep to finish (in inference for every batch one prep serves: eval preps once
    // per pass); the reconstruction's intermediates from prep to finish (prep only in inference);
    // gradients of intermediates and partial factor gradients during finish only.
    // Partial factor gradients are written by the finish jobs and read by finishSum.
    const [first, last] = b.life === 'finishSum' ? [t.finish(i), t.finishSum] : b.life === 'finish' ? [t.finish(i), t.finish(i)]
      : b.life === 'W' ? [t.prep, ctx.train ? t.finish(i) : t.end]
        : [t.prep, ctx.train ? t.finish(i) : t.prep];
    shared.set(b.name, ctx.declare(b.name, b.floats, 'workspace', null, first, last));
  }
  const tensors = layerTensors(layer).map((x) => x.name);
  const bias = `${n}.bias`;
  const laneKeys = (l: number): Map<string, string> => {
    const m = new Map<string, string>(shared);
    for (const x of tensors) { m.set(`param:${x}`, ctx.param(x)); m.set(`grad:${x}`, ctx.grad(x, l)); }
    m.set('x', ctx.input(0, l));
    m.set('y', ctx.output(l));
    if (ctx.train) {
      m.set('dy', ctx.outputGrad(l));
      if (ctx.needsGrad(0)) m.set('dx', gradDst(ctx.gradTarget(0, l)));
    }
    return m;
  };
  const laneBuf = (l: number, m: Map<string, string>): void => {
    for (const b of chosen.laneBuffers) {
      const life: Record<string, [number, number]> = {
        saved: [t.fwd(i), ctx.train ? t.bwd(i) : t.fwd(i)],
        scratch: [t.fwd(i), ctx.train ? t.bwd(i) : t.fwd(i)],
        dsaved: [t.bwd(i), t.bwd(i)],
        dW: [t.bwd(i), t.finish(i)],
      };
      const [first, last] = life[b.name] ?? [t.hooks, t.end];
      m.set(b.name, ctx.declare(b.name, b.floats, b.name === 'saved' ? 'activations' : 'workspace', l, first, last));
    }
  };
  const forward: Op[][] = [], backward: Op[][] = [];
  const maps: Map<string, string>[] = [];
  for (let l = 0; l < ctx.lanes; l++) {
    const m = laneKeys(l);
    laneBuf(l, m);
    maps.push(m);
    const bind = (k: string): string => { const v = m.get(k); if (v === undefined) throw new Error(`layer ${n}: program buffer ${k} is not bound`); return v; };
    forward.push([...rebind(chosen.forward, bind), { op: 'bias', y: ref(ctx.output(l)), bias: ref(ctx.param(bias)), rows, cols }]);
    if (ctx.train) {
      const ops: Op[] = [{ op: 'biasGrad', dbias: ref(ctx.grad(bias, l)), dy: ref(ctx.outputGrad(l)), rows, cols }, ...rebind(chosen.backward, bind)];
      if (ctx.needsGrad(0) && chosen.backward.length) completeGrad(ops, ctx.gradTarget(0, l));
      backward.push(ops);
    }
  }
  // The finish jobs see lane 0's names, and all lanes' x and dy in one buffer each (finishReadsLanes).
  const finishNames = new Map(maps[0]);
  if (ctx.train && chosen.finishReadsLanes) { finishNames.set('x.lanes', ctx.allLanes(maps[0].get('x')!)); finishNames.set('dy.lanes', ctx.allLanes(maps[0].get('dy')!)); }
  const bind0 = (k: string): string => { const v = finishNames.get(k); if (v === undefined) throw new Error(`layer ${n}: program buffer ${k} is not bound`); return v; };
  // Finish job c: its rows of dW — formed from every lane's x and dy (finishReadsLanes), or the
  // lanes' own dW rows summed into lane 0's (lane order) — then its chunk of the
  // reconstruction's backward.
  const finish: Op[][] = ctx.train ? chosen.finishJobs.map((job, c) => {
    const { off, floats } = chosen.chunkRanges[c];
    const adds: Op[] = [];
    if (!chosen.finishReadsLanes) {
      for (let l = 1; l < ctx.lanes; l++) adds.push({ op: 'add', dst: ref(maps[0].get('dW')!, off), src: ref(maps[l].get('dW')!, off), n: floats });
    }
    return [...adds, ...rebind(job, bind0)];
  }) : [];
  // Tensors whose gradient every lane writes (summed by reduce); the others finish writes once.
  const finishWrites = new Set(chosen.finish.length ? tensors.filter((x) => x !== bias) : []);
  return {
    prep: chosen.prepJobs.map((job) => rebind(job, bind0)), forward, backward, finish,
    finishSum: ctx.train ? rebind(chosen.finishSum, bind0) : [],
    laneGrads: tensors.filter((x) => !finishWrites.has(x)),
  };
}
