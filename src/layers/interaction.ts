// interaction (DLRM): the k input vectors of a row, each of width d, stacked as t [k × d]; the
// output is their pairwise dot products z_p = <t_i, t_j> for i = 1..k−1, j = 0..i−1 (the strictly
// lower triangle, row-major), k(k−1)/2 per row. The inputs are first copied into one lane buffer
// [rows × k × d] (kept for backward), which is what the core's interact op reads.
import type { Op } from '../tn/compile.js';
import { completeGrad, gradDst, ref, type LowerContext } from './context.js';
import type { LayerProgram } from './types.js';

export function lowerInteraction(ctx: LowerContext): LayerProgram {
  const k = ctx.inWidths.length, d = ctx.inWidths[0], rows = ctx.laneRows, i = ctx.index, t = ctx.t;
  const forward: Op[][] = [], backward: Op[][] = [];
  for (let l = 0; l < ctx.lanes; l++) {
    const T = ctx.declare('stack', rows * k * d, 'activations', l, t.fwd(i), ctx.train ? t.bwd(i) : t.fwd(i));
    const fwd: Op[] = [];
    for (let j = 0; j < k; j++) fwd.push({ op: 'copy2d', dst: ref(T, j * d), ldDst: k * d, src: ref(ctx.input(j, l)), ldSrc: d, rows, cols: d, acc: false });
    fwd.push({ op: 'interact', z: ref(ctx.output(l)), t: ref(T), rows, k, d });
    forward.push(fwd);
    const bwd: Op[] = [];
    if (ctx.train && ctx.inWidths.some((_, j) => ctx.needsGrad(j))) {
      const dT = ctx.declare('dstack', rows * k * d, 'workspace', l, t.bwd(i), t.bwd(i));
      bwd.push({ op: 'interactGrad', dt: ref(dT), dz: ref(ctx.outputGrad(l)), t: ref(T), rows, k, d });
      for (let j = 0; j < k; j++) {
        if (!ctx.needsGrad(j)) continue;
        const g = ctx.gradTarget(j, l);
        bwd.push({ op: 'copy2d', dst: ref(gradDst(g)), ldDst: d, src: ref(dT, j * d), ldSrc: k * d, rows, cols: d, acc: false });
        completeGrad(bwd, g);
      }
    }
    backward.push(bwd);
  }
  return { prep: [], forward, backward, finish: [], finishSum: [] };
}
