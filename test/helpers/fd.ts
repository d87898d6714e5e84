// Central finite differences of an f64 loss against a tensor's analytic gradient: the worst error
// relative to max(|fd|, GRAD_VS_FD_ABS / GRAD_VS_FD_REL), and where it is.
import { GRAD_VS_FD_ABS, GRAD_VS_FD_REL } from './tolerances.js';

export function worstFdError(p: Float64Array, grad: ArrayLike<number>, loss: () => number, h = 1e-6): { worst: number; at: number } {
  let worst = 0, at = -1;
  for (let i = 0; i < p.length; i++) {
    const keep = p[i];
    p[i] = keep + h; const up = loss();
    p[i] = keep - h; const down = loss();
    p[i] = keep;
    const fd = (up - down) / (2 * h);
    const err = Math.abs(grad[i] - fd) / Math.max(GRAD_VS_FD_ABS / GRAD_VS_FD_REL, Math.abs(fd));
    if (err > worst) { worst = err; at = i; }
  }
  return { worst, at };
}
