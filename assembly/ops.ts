// Elementwise and row-wise layer kernels: bias, activations, concat copies, DLRM interaction,
// losses, Adam.
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
export function reluF32(y: usize, n: i32): void { reluToF32(y, y, n); }

/** y = max(x, 0); y may equal x. (pmax(0, x) is 0 < x ? x : 0, so NaN and −0 give +0 as the scalar path does.) */
export function reluToF32(y: usize, x: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(y + p, f32x4.pmax(zero, v128.load(x + p)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const v = load<f32>(x + p);
    store<f32>(y + p, v > 0 ? v : 0);
  }
}

/** dy *= (y > 0), where y is the ReLU output. */
export function reluBackwardF32(dy: usize, y: usize, n: i32): void { reluBackwardToF32(dy, dy, y, n); }

/** dx = dy where y > 0, else +0 (y the ReLU output); dx may equal dy. */
export function reluBackwardToF32(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      v128.store(dx + p, v128.and(v128.load(dy + p), f32x4.gt(v128.load(y + p), zero)));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(dx + p, load<f32>(y + p) > 0 ? load<f32>(dy + p) : 0);
  }
}

/** y = 1 / (1 + e^−x); y may equal x. Scalar in every flavour: exp has no SIMD form here. */
export function sigmoidF32(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(y + p, <f32>1 / (<f32>1 + Mathf.exp(-load<f32>(x + p))));
  }
}

/** dx = dy · (y · (1 − y)), y the sigmoid output; dx may equal dy. */
export function sigmoidBackwardF32(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const s = v128.load(y + p);
      v128.store(dx + p, f32x4.mul(v128.load(dy + p), f32x4.mul(s, f32x4.sub(one, s))));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const s = load<f32>(y + p);
    store<f32>(dx + p, load<f32>(dy + p) * (s * (<f32>1 - s)));
  }
}

/** y = tanh(x); y may equal x. Scalar in every flavour. */
export function tanhF32(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(y + p, Mathf.tanh(load<f32>(x + p)));
  }
}

/** dx = dy · (1 − y·y), y the tanh output; dx may equal dy. */
export function tanhBackwardF32(dx: usize, dy: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 2;
      const s = v128.load(y + p);
      v128.store(dx + p, f32x4.mul(v128.load(dy + p), f32x4.sub(one, f32x4.mul(s, s))));
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 2;
    const s = load<f32>(y + p);
    store<f32>(dx + p, load<f32>(dy + p) * (<f32>1 - s * s));
  }
}

/**
 * dst rows (stride ldDst) = src rows (stride ldSrc), or += when `acc`: a concat's forward (a block
 * of columns into the wide buffer) and backward (the block back out). The plain copy moves bits
 * (no 0 + x, which would turn −0 into +0); the accumulate is addF32, so it sums as ADD does.
 */
export function copy2dF32(dst: usize, ldDst: i32, src: usize, ldSrc: i32, rows: i32, cols: i32, acc: bool): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const d = dst + ((<usize>r * ldDst) << 2), s = src + ((<usize>r * ldSrc) << 2);
    if (acc) addF32(d, s, cols);
    else memory.copy(d, s, rowBytes);
  }
}

/**
 * DLRM's pairwise interaction: t is [rows, k, d], z is [rows, k(k−1)/2] with, for i = 1..k−1 and
 * j = 0..i−1 in that order, z[r][p++] = Σ_c t[r,i,c]·t[r,j,c], summed in c order in f32. Scalar:
 * a SIMD sum over c would reassociate it (and d is small).
 */
export function interactF32(z: usize, t: usize, rows: i32, k: i32, d: i32): void {
  const rowBytes = (<usize>k * d) << 2;
  let out = z;
  for (let r = 0; r < rows; r++) {
    const tr = t + <usize>r * rowBytes;
    for (let i = 1; i < k; i++) {
      const ti = tr + ((<usize>i * d) << 2);
      for (let j = 0; j < i; j++) {
        const tj = tr + ((<usize>j * d) << 2);
        let s: f32 = 0;
        for (let c = 0; c < d; c++) s += load<f32>(ti + (<usize>c << 2)) * load<f32>(tj + (<usize>c << 2));
        store<f32>(out, s);
        out += 4;
      }
    }
  }
}

/**
 * dt = ∂(Σ dz·z)/∂t for z = interactF32(t), overwriting dt (which must not alias t or dz): pairs
 * in z's order, each adding dz·t[j] into dt[i] and then dz·t[i] into dt[j].
 */
export function interactGradF32(dt: usize, dz: usize, t: usize, rows: i32, k: i32, d: i32): void {
  const rowBytes = (<usize>k * d) << 2;
  memory.fill(dt, 0, <usize>rows * rowBytes);
  let g = dz;
  for (let r = 0; r < rows; r++) {
    const tr = t + <usize>r * rowBytes, dr = dt + <usize>r * rowBytes;
    for (let i = 1; i < k; i++) {
      const oi = (<usize>i * d) << 2;
      for (let j = 0; j < i; j++) {
        const oj = (<usize>j * d) << 2;
        const w = load<f32>(g);
        g += 4;
        for (let c = 0; c < d; c++) {
          const q = <usize>c << 2;
          const pi = dr + oi + q, pj = dr + oj + q;
          store<f32>(pi, load<f32>(pi) + w * load<f32>(tr + oj + q));
          store<f32>(pj, load<f32>(pj) + w * load<f32>(tr + oi + q));
        }
      }
    }
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
  return softmaxXent<u8>(dlogits, logits, labels, rows, cols, correct, gradScale);
}

/**
 * softmaxXentF32 with labels of type L (u8 for the direct call, i32 for the IR's LOSS op), and
 * dlogits = 0 meaning "loss only" (inference). The loss arithmetic is the same either way.
 */
export function softmaxXent<L>(dlogits: usize, logits: usize, labels: usize, rows: i32, cols: i32, correct: usize,
                               gradScale: f32): f64 {
  let loss: f64 = 0;
  let hits = 0;
  const scale = gradScale;
  const grad = dlogits != 0;
  for (let r = 0; r < rows; r++) {
    const x = logits + ((<usize>r * cols) << 2);
    const g = dlogits + ((<usize>r * cols) << 2);
    const label = <i32>load<L>(labels + <usize>r * sizeof<L>());
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
      if (grad) store<f32>(g + (<usize>j << 2), e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    loss += <f64>(Mathf.log(sum) - target);
    if (!grad) continue;
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
 * Binary cross-entropy on logits z with f32 targets t (0/1), [rows×cols] each: per element
 * max(z,0) − z·t + log1p(e^−|z|) (no overflow for any z), summed in f64 in row-major order.
 * dz = (σ(z) − t) · gradScale unless dz = 0 (dz may alias z); `correct` gets the elements whose
 * sign agrees with the target, (z > 0) == (t > 0.5).
 */
export function sigmoidBceF32(dz: usize, z: usize, t: usize, rows: i32, cols: i32, correct: usize, gradScale: f32): f64 {
  let loss: f64 = 0;
  let hits = 0;
  const n = <usize>rows * cols;
  for (let i: usize = 0; i < n; i++) {
    const p = i << 2;
    const v = load<f32>(z + p), y = load<f32>(t + p);
    loss += <f64>(max<f32>(v, 0) - v * y + Mathf.log1p(Mathf.exp(-Mathf.abs(v))));
    if ((v > 0) == (y > 0.5)) hits++;
    if (dz != 0) store<f32>(dz + p, (<f32>1 / (<f32>1 + Mathf.exp(-v)) - y) * gradScale);
  }
  store<i32>(correct, hits);
  return loss;
}

/**
 * Mean squared error per row, (1/cols)·Σ_j (y − t)², summed over rows in f64 (each row's squares
 * summed in f64, then divided). dy = (y − t) · ((2/cols) · gradScale) unless dy = 0 (dy may alias y).
 */
export function mseF32(dy: usize, y: usize, t: usize, rows: i32, cols: i32, gradScale: f32): f64 {
  let loss: f64 = 0;
  const coef: f32 = (<f32>2 / <f32>cols) * gradScale;
  for (let r = 0; r < rows; r++) {
    const base = (<usize>r * cols) << 2;
    let s: f64 = 0;
    for (let j = 0; j < cols; j++) {
      const p = base + (<usize>j << 2);
      const diff = load<f32>(y + p) - load<f32>(t + p);
      s += <f64>(diff * diff);
      if (dy != 0) store<f32>(dy + p, diff * coef);
    }
    loss += s / <f64>cols;
  }
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

// Row-sparse kernels of a dense embedding table's training (src/runtime/sparse-rows.ts): a step's
// gradient lives only at the rows its batch touched, listed in `rows` (i32, distinct within a list).
// Each row is an independent run of adamF32 / addF32, so a touched row gets the bits a dense step
// would give it; untouched rows, and their Adam moments, stay as they are (lazy Adam).

/** adamF32 over the `count` rows of `rowFloats` floats listed in `rows`. */
export function adamRowsF32(params: usize, grads: usize, m: usize, v: usize, rows: usize, count: i32, rowFloats: i32,
                            lr: f32, beta1: f32, beta2: f32, eps: f32, step: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let k = 0; k < count; k++) {
    const at = <usize>load<i32>(rows + (<usize>k << 2)) * rowBytes;
    adamF32(params + at, grads + at, m + at, v + at, rowFloats, lr, beta1, beta2, eps, step);
  }
}

/** y[r] += x[r] for the listed rows (a lane's rows into lane 0's gradient). */
export function addRowsF32(y: usize, x: usize, rows: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let k = 0; k < count; k++) {
    const at = <usize>load<i32>(rows + (<usize>k << 2)) * rowBytes;
    addF32(y + at, x + at, rowFloats);
  }
}

/** y[r] = x[r] for the listed rows (x = 0: zero them). */
export function copyRowsF32(y: usize, x: usize, rows: usize, count: i32, rowFloats: i32): void {
  const rowBytes = <usize>rowFloats << 2;
  for (let k = 0; k < count; k++) {
    const at = <usize>load<i32>(rows + (<usize>k << 2)) * rowBytes;
    if (x == 0) memory.fill(y + at, 0, rowBytes); else memory.copy(y + at, x + at, rowBytes);
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

/** y *= alpha over n floats (mean pooling of an embedding bag). */
export function scaleF32(y: usize, n: i32, alpha: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const a = f32x4.splat(alpha);
    for (; i + 4 <= n; i += 4) {
      const p = y + (<usize>i << 2);
      v128.store(p, f32x4.mul(v128.load(p), a));
    }
  }
  for (; i < n; i++) {
    const p = y + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * alpha);
  }
}

/** dst[i] = table[src[i]] for n u8 inputs and a 256-entry f32 table (a u8 input standardised). */
export function lutU8F32(dst: usize, src: usize, n: i32, table: usize): void {
  for (let i = 0; i < n; i++) {
    store<f32>(dst + (<usize>i << 2), load<f32>(table + (<usize>load<u8>(src + <usize>i) << 2)));
  }
}

/** dst[r][j] = (src[r][j] − mean[j])·invStd[j] over a row-major [rows × cols] (dst may equal src). */
export function affineF32(dst: usize, src: usize, mean: usize, invStd: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const d = dst + ((<usize>r * cols) << 2), s = src + ((<usize>r * cols) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= cols; j += 4) {
        const p = <usize>j << 2;
        v128.store(d + p, f32x4.mul(f32x4.sub(v128.load(s + p), v128.load(mean + p)), v128.load(invStd + p)));
      }
    }
    for (; j < cols; j++) {
      const p = <usize>j << 2;
      store<f32>(d + p, (load<f32>(s + p) - load<f32>(mean + p)) * load<f32>(invStd + p));
    }
  }
}
