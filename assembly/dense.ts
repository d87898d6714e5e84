// Dense linear layer y = x·W + bias, W stored [N_in × N_out] row-major (the same orientation as
// the TTM layer's W, so a TTM layer and its reconstruction are interchangeable).
import { brgemmF32, transposeF32 } from './gemm';
import { biasAddF32, biasGradF32 } from './ops';

export function denseForwardF32(y: usize, x: usize, w: usize, bias: usize, batch: i32, nIn: i32, nOut: i32): void {
  brgemmF32(y, nOut, x, nIn, 1, 0, w, nOut, 0, batch, nOut, nIn, 1, false);
  if (bias != 0) biasAddF32(y, bias, batch, nOut);
}

/** dW = xᵀ·dy, dbias = Σ dy, and dx = dy·Wᵀ when dx ≠ 0 (ws: nIn·nOut floats for Wᵀ). */
export function denseBackwardF32(dx: usize, dw: usize, dbias: usize, dy: usize, x: usize, w: usize,
                                 ws: usize, batch: i32, nIn: i32, nOut: i32): void {
  brgemmF32(dw, nOut, x, 1, nIn, 0, dy, nOut, 0, nIn, nOut, batch, 1, false);
  if (dbias != 0) biasGradF32(dbias, dy, batch, nOut);
  if (dx != 0) {
    transposeF32(ws, w, nIn, nOut, nOut);
    brgemmF32(dx, nIn, dy, nOut, 1, 0, ws, nIn, 0, batch, nIn, nOut, 1, false);
  }
}
