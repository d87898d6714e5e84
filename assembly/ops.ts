// Elementwise and row-wise layer kernels: bias, ReLU, softmax cross-entropy, Adam.
// Every SIMD branch keeps the scalar path's per-element operation order, so all flavours give the
// same bits (sqrt and div are correctly rounded in both).

/** y[r][j] += bias[j] for a row-major [rows×cols] y. */
export function biasAddF32(y: usize, bias: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = y + ((<usize>r * cols) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= cols; j += 4) {
        const p = row + (<usize>j << 2);
        v128.store(p, f32x4.add(v128.load(p), v128.load(bias + (<usize>j << 2))));
      }
    }
    for (; j < cols; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(bias + (<usize>j << 2)));
    }
  }
}

/** dbias[j] = Σ_r dy[r][j], summed in row order. */
export function biasGradF32(dbias: usize, dy: usize, rows: i32, cols: i32): void {
  memory.fill(dbias, 0, <usize>cols << 2);
  for (let r = 0; r < rows; r++) {
    const row = dy + ((<usize>r * cols) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= cols; j += 4) {
        const p = dbias + (<usize>j << 2);
        v128.store(p, f32x4.add(v128.load(p), v128.load(row + (<usize>j << 2))));
      }
    }
    for (; j < cols; j++) {
      const p = dbias + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(row + (<usize>j << 2)));
    }
  }
}

/** y = max(y, 0) in place. */
export function reluF32(y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = y + (<usize>i << 2);
      v128.store(p, f32x4.pmax(zero, v128.load(p)));
    }
  }
  for (; i < n; i++) {
    const p = y + (<usize>i << 2);
    const v = load<f32>(p);
    store<f32>(p, v > 0 ? v : 0);
  }
}

/** dy *= (y > 0), where y is the ReLU output. */
export function reluBackwardF32(dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(dy + p, v128.and(v128.load(dy + p), f32x4.gt(v128.load(y + p), zero)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    if (!(load<f32>(y + p) > 0)) store<f32>(dy + p, 0);
  }
}

/**
 * Softmax cross-entropy over `rows` samples with integer labels (u8).
 * Writes dlogits = (softmax − onehot) · gradScale (dlogits may alias logits); gradScale is
 * 1 / (rows of the whole minibatch), which differs from 1/rows when a batch is split into lanes.
 * Returns the summed (not mean) loss in f64, so the host can average over an epoch without
 * f32 drift. `correct` (i32 at that address) receives the rows whose arg-max equals the label.
 */
export function softmaxXentF32(dlogits: usize, logits: usize, labels: usize, rows: i32, cols: i32, correct: usize,
                               gradScale: f32): f64 {
  let loss: f64 = 0;
  let hits = 0;
  const scale = gradScale;
  for (let r = 0; r < rows; r++) {
    const x = logits + ((<usize>r * cols) << 2);
    const g = dlogits + ((<usize>r * cols) << 2);
    const label = <i32>load<u8>(labels + r);
    let mx = load<f32>(x), arg = 0;
    for (let j = 1; j < cols; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v > mx) { mx = v; arg = j; }
    }
    if (arg == label) hits++;
    const target = load<f32>(x + (<usize>label << 2)) - mx; // read before g (may alias x) is written
    let sum: f32 = 0;
    for (let j = 0; j < cols; j++) {
      const e = Mathf.exp(load<f32>(x + (<usize>j << 2)) - mx);
      store<f32>(g + (<usize>j << 2), e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    loss += <f64>(Mathf.log(sum) - target);
    for (let j = 0; j < cols; j++) {
      const p = g + (<usize>j << 2);
      const pj = load<f32>(p) * inv;
      store<f32>(p, (j == label ? pj - 1 : pj) * scale);
    }
  }
  store<i32>(correct, hits);
  return loss;
}

/**
 * Adam (Kingma & Ba; PyTorch's form, eps outside the sqrt) over n contiguous parameters.
 * `step` is 1-based; bias corrections are folded into the step size and eps in f64, then f32.
 */
export function adamF32(params: usize, grads: usize, m: usize, v: usize, n: i32,
                        lr: f32, beta1: f32, beta2: f32, eps: f32, step: i32): void {
  const bc1 = 1 - Math.pow(<f64>beta1, <f64>step);
  const bc2 = 1 - Math.pow(<f64>beta2, <f64>step);
  const stepSize = <f32>(<f64>lr / bc1);
  const invSqrtBc2 = <f32>(1 / Math.sqrt(bc2));
  const b1c: f32 = 1 - beta1, b2c: f32 = 1 - beta2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vb1 = f32x4.splat(beta1), vb2 = f32x4.splat(beta2), vb1c = f32x4.splat(b1c), vb2c = f32x4.splat(b2c);
    const vStep = f32x4.splat(stepSize), vInv = f32x4.splat(invSqrtBc2), vEps = f32x4.splat(eps);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const g = v128.load(grads + p);
      const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + p)), f32x4.mul(vb1c, g));
      const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + p)), f32x4.mul(vb2c, f32x4.mul(g, g)));
      v128.store(m + p, mi);
      v128.store(v + p, vi);
      const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vi), vInv), vEps);
      v128.store(params + p, f32x4.sub(v128.load(params + p), f32x4.div(f32x4.mul(vStep, mi), denom)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const g = load<f32>(grads + p);
    const mi = beta1 * load<f32>(m + p) + b1c * g;
    const vi = beta2 * load<f32>(v + p) + b2c * (g * g);
    store<f32>(m + p, mi);
    store<f32>(v + p, vi);
    const denom = Mathf.sqrt(vi) * invSqrtBc2 + eps;
    store<f32>(params + p, load<f32>(params + p) - (stepSize * mi) / denom);
  }
}

/** y += x over n floats (summing the gradients of batch lanes). */
export function addF32(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(y + p, f32x4.add(v128.load(y + p), v128.load(x + p)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(y + p, load<f32>(y + p) + load<f32>(x + p));
  }
}
