// activation: y = f(x) elementwise. When x is a layer output read by this activation alone,
// prepare gives y (and dy) x's own buffers, so it runs in place and costs no memory.
import type { ActivationSpec } from '../spec/types.js';
import type { Op } from '../tn/compile.js';
import { completeGrad, gradDst, ref, type LowerContext } from './context.js';
import type { LayerProgram } from './types.js';

export function lowerActivation(ctx: LowerContext): LayerProgram {
  const { fn } = ctx.layer as ActivationSpec;
  const n = ctx.laneRows * ctx.outWidth;
  const forward: Op[][] = [], backward: Op[][] = [];
  for (let l = 0; l < ctx.lanes; l++) {
    const x = ctx.input(0, l), y = ctx.output(l);
    const inPlace = x === y;
    forward.push(fn === 'none'
      ? (inPlace ? [] : [{ op: 'copy2d', dst: ref(y), ldDst: n, src: ref(x), ldSrc: n, rows: 1, cols: n, acc: false }])
      : [{ op: 'act', fn, y: ref(y), x: ref(x), n }]);
    if (!ctx.train || !ctx.needsGrad(0)) { backward.push([]); continue; }
    const g = ctx.gradTarget(0, l), dy = ctx.outputGrad(l);
    const ops: Op[] = fn === 'none'
      ? (gradDst(g) === dy ? [] : [{ op: 'copy2d', dst: ref(gradDst(g)), ldDst: n, src: ref(dy), ldSrc: n, rows: 1, cols: n, acc: false }])
      : [{ op: 'actGrad', fn, dx: ref(gradDst(g)), dy: ref(dy), y: ref(y), n }];
    completeGrad(ops, g);
    backward.push(ops);
  }
  return { prep: [], forward, backward, finish: [], finishSum: [] };
}
