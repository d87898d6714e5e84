// concat: y = [x_0 | x_1 | …] along features (row-major [rows × Σ widths]); backward hands each
// input its column block of dy.
import type { Op } from '../tn/compile.js';
import { completeGrad, gradDst, ref, type LowerContext } from './context.js';
import type { LayerProgram } from './types.js';

export function lowerConcat(ctx: LowerContext): LayerProgram {
  const W = ctx.outWidth, rows = ctx.laneRows;
  const offsets = ctx.inWidths.map((_, j) => ctx.inWidths.slice(0, j).reduce((s, w) => s + w, 0));
  const forward: Op[][] = [], backward: Op[][] = [];
  for (let l = 0; l < ctx.lanes; l++) {
    forward.push(ctx.inWidths.map((w, j): Op => ({
      op: 'copy2d', dst: ref(ctx.output(l), offsets[j]), ldDst: W, src: ref(ctx.input(j, l)), ldSrc: w, rows, cols: w, acc: false,
    })));
    const ops: Op[] = [];
    if (ctx.train) {
      ctx.inWidths.forEach((w, j) => {
        if (!ctx.needsGrad(j)) return;
        const g = ctx.gradTarget(j, l);
        ops.push({ op: 'copy2d', dst: ref(gradDst(g)), ldDst: w, src: ref(ctx.outputGrad(l), offsets[j]), ldSrc: W, rows, cols: w, acc: false });
        completeGrad(ops, g);
      });
    }
    backward.push(ops);
  }
  return { prep: [], forward, backward, finish: [], finishSum: [] };
}
