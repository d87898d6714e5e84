// The exported module's fixed ABI: the header the exporter writes at the template's __heap_base
// (assembly/model/standalone.ts reads the same words) and the rules its btnn_run applies.
export const ABI_VERSION = 1;
export const MAGIC = 0x4e4e5442; // 'BTNN' little-endian
/** Header bytes reserved before the model's data (room for MAX_INPUTS inputs). */
export const HEADER_BYTES = 256;
export const MAX_INPUTS = 16;

/** Word index of each header field. */
export const H = {
  magic: 0, version: 1, program: 2, programWords: 3, output: 4, outputBytes: 5, classRule: 6, outputWidth: 7,
  arenaBytes: 8, vectors: 9, vectorInputs: 10, vectorOutputs: 11, inputCount: 12, inputs: 13,
} as const;

/** How btnn_run turns scores into a class: none (−1), argmax of f32 or i32 scores, f32 score > 0. */
export const CLASS_RULE = { none: 0, argmaxF32: 1, positiveF32: 2, argmaxI32: 3 } as const;
export type ClassRule = keyof typeof CLASS_RULE;

/** btnn_run's class from scores, as the module computes it: first maximum wins, NaN never does. */
export function classOf(rule: ClassRule, scores: ArrayLike<number>): number {
  if (rule === 'none') return -1;
  if (rule === 'positiveF32') return scores[0] > 0 ? 1 : 0;
  let best = 0;
  for (let c = 1; c < scores.length; c++) if (scores[c] > scores[best]) best = c;
  return best;
}
