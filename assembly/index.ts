// The btnn core: pure kernels over addresses into one linear memory. The host (src/) owns the
// memory plan; nothing here allocates, reads clocks or does I/O.
export { brgemmF32, transposeF32, peakF32x4, PEAK_FLOPS_PER_ITER } from './gemm';
export { biasAddF32, biasGradF32, reluF32, reluBackwardF32, softmaxXentF32, adamF32, addF32, adamRowsF32, addRowsF32, copyRowsF32 } from './ops';
export { rngSeed, rngNextU32, rngBelow, rngNormal, rngTruncNormalF32, rngShuffleI32 } from './rng';
export { tnRun, tnFlops, tnResetFlops } from './tn';
// The IR's op and function codes as exported globals, so the host's table (src/tn/opcodes.ts) is
// tested against them rather than copied by hand.
export {
  TN_GEMM, TN_PERMUTE, TN_ZERO, TN_GATHER, TN_SCATTER, TN_ADD, TN_BIAS, TN_BIAS_GRAD, TN_ACT, TN_ACT_GRAD,
  TN_COPY2D, TN_INTERACT, TN_INTERACT_GRAD, TN_LOSS, TN_SCALE, TN_LUT, TN_AFFINE,
  TN_QGEMM, TN_QPERMUTE, TN_QBIAS, TN_QRELU, TN_QLUT, TN_QAFFINE, TN_GEMM_I16, TN_PACK_I16, TN_OP_COUNT,
  ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_COUNT, LOSS_SOFTMAX_XENT, LOSS_SIGMOID_BCE, LOSS_MSE, LOSS_COUNT,
} from './tn';
export { sampleWeightsF32, sviGradF32, mapGradF32, sliceSquaresF64 } from './bayes';
export { selftest, selftestChecksum } from './selftest';
export { dotI16, requantI32ToI16, q15MulrSatI16 } from './fixed';
export { requantQ } from './quant';

/** First free byte after the module's static data: where the host's memory plan may begin. */
export function heapBase(): usize { return __heap_base; }
export { quantI16, maxAbsF32, gemmI16, packRowsI16, packColsI16, packRowsI16Sr, packColsI16Sr } from './lowp';
