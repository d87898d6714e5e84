// Integer inference ops: the arithmetic of a post-training-quantised model, bit for bit that of
// hw-sim's golden model (hw-sim/quant-program.ts, built on hw-sim/fixed-point.ts). Values are
// signed integers with a power-of-two scale per tensor (real = q · 2^−frac); the host chooses
// every frac and shift, so the ops only shift, round and saturate.
//
// Element types (a `type` word): 0 int8, 1 int16, 2 int32. Strides and offsets count elements.
//   QGEMM    [18, 21, c, ldc, a, sai, sak, strideA, b, ldb, strideB, m, n, k, t, h, hc, ha, hb, types, shift]
//            types = aType | bType << 2 | cType << 4 (a, b int8 or int16). For every C(i,j) of each of
//            h problems: acc = Σ_t Σ_k A·B in int32, wrapping (what i32.add and i32x4.dot_i16x8_s do;
//            the host counts would-be wraps in the golden model); then int32 C: acc itself (shift 0);
//            int8/int16 C: acc / 2^shift rounded to nearest, ties to even (shift > 0) or acc · 2^−shift
//            (shift ≤ 0), saturated to C's type (the host keeps |shift| ≤ 31). The requantisation sits here, between factor
//            contractions, because a contraction is where the range of the values changes.
//   QPERMUTE [19, 6 + 3·rank, dst, src, rank, elemBytes, dims[rank], srcStrides[rank], odometer[rank]]
//   QBIAS    [20, 7, y, bias, rows, cols, type]     y[r][j] = sat(y[r][j] + bias[j]), bias int32 at y's scale
//   QRELU    [21, 6, y, x, n, type]                 y = max(x, 0); y may equal x
//   QLUT     [22, 7, dst, src, n, table, type]      dst[i] = table[src[i]]: a u8 input through 256 int32 entries
//   QAFFINE  [23, 10, dst, src, mean, invStd, rows, cols, type, frac]
//            f32 inputs: v = f32((x − mean[j]) · invStd[j]) as the f32 affine op computes it, then
//            q = sat(round-half-even(v · 2^frac)) (exact in f64), NaN → 0.
// Integer results do not depend on summation order (wrapping adds are associative), so every
// flavour, SIMD or not, gives the same bits.

export const Q_I8: i32 = 0;
export const Q_I16: i32 = 1;
export const Q_I32: i32 = 2;

// @ts-ignore: decorator
@inline function word(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function addr(p: usize, i: i32): usize { return <usize>load<u32>(p + (<usize>i << 2)); }

// @ts-ignore: decorator
@inline function elemShift(type: i32): i32 { return type; } // bytes = 1 << type

// @ts-ignore: decorator
@inline function loadQ(base: usize, i: usize, type: i32): i32 {
  if (type == Q_I8) return <i32>load<i8>(base + i);
  if (type == Q_I16) return <i32>load<i16>(base + (i << 1));
  return load<i32>(base + (i << 2));
}

// @ts-ignore: decorator
@inline function storeQ(base: usize, i: usize, v: i32, type: i32): void {
  if (type == Q_I8) store<i8>(base + i, <i8>v);
  else if (type == Q_I16) store<i16>(base + (i << 1), <i16>v);
  else store<i32>(base + (i << 2), v);
}

/** Clamps an i64 to the type's range. */
// @ts-ignore: decorator
@inline function sat(v: i64, type: i32): i32 {
  const hi: i64 = type == Q_I8 ? 127 : type == Q_I16 ? 32767 : 2147483647;
  const lo: i64 = -hi - 1;
  return <i32>(v > hi ? hi : v < lo ? lo : v);
}

/** acc / 2^shift, nearest with ties to even (shift > 0), or acc · 2^−shift (shift ≤ 0), saturated. */
export function requantQ(acc: i32, shift: i32, type: i32): i32 {
  if (shift <= 0) return sat(<i64>acc << <i64>(-shift), type); // |acc|·2^31 < 2^63: exact
  const q = acc >> shift;
  const rem = acc & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const up = rem > half || (rem == half && (q & 1) == 1) ? 1 : 0;
  return sat(<i64>q + up, type);
}

/** Σ_t Σ_k A·B for one C element, A of element type TA, B of TB: the type branch is hoisted out. */
// @ts-ignore: decorator
@inline function dotQ<TA, TB>(ax: usize, ia0: usize, sai: usize, bx: usize, ib0: usize, t: i32, k: i32, sak: usize, ldb: usize, strideA: usize, strideB: usize): i32 {
  let acc: i32 = 0;
  const sa = sak * sizeof<TA>(), sb = ldb * sizeof<TB>();
  for (let tt = 0; tt < t; tt++) {
    let pa = ax + (<usize>tt * strideA + ia0) * sizeof<TA>(), pb = bx + (<usize>tt * strideB + ib0) * sizeof<TB>();
    for (let kk = 0; kk < k; kk++) {
      acc += <i32>load<TA>(pa) * <i32>load<TB>(pb); // |product| ≤ 2^30; the add wraps
      pa += sa; pb += sb;
    }
  }
  return acc;
}

function qgemmTyped<TA, TB>(p: usize, cT: i32): void {
  const c = addr(p, 2), ldc = word(p, 3);
  const a = addr(p, 4), sai = word(p, 5), sak = word(p, 6), strideA = word(p, 7);
  const b = addr(p, 8), ldb = word(p, 9), strideB = word(p, 10);
  const m = word(p, 11), n = word(p, 12), k = word(p, 13), t = word(p, 14);
  const h = word(p, 15), hc = word(p, 16), ha = word(p, 17), hb = word(p, 18);
  const shift = word(p, 20);
  for (let x = 0; x < h; x++) {
    const cx = c + ((<usize>x * hc) << elemShift(cT));
    const ax = a + <usize>x * ha * sizeof<TA>(), bx = b + <usize>x * hb * sizeof<TB>();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const acc = dotQ<TA, TB>(ax, <usize>i * sai, sai, bx, <usize>j, t, k, <usize>sak, <usize>ldb, <usize>strideA, <usize>strideB);
        storeQ(cx, <usize>i * ldc + <usize>j, cT == Q_I32 ? acc : requantQ(acc, shift, cT), cT);
      }
    }
  }
}

export function qgemm(p: usize): void {
  const types = word(p, 19);
  const aT = types & 3, bT = (types >> 2) & 3, cT = (types >> 4) & 3;
  if (aT == Q_I8) { if (bT == Q_I8) qgemmTyped<i8, i8>(p, cT); else qgemmTyped<i8, i16>(p, cT); }
  else if (bT == Q_I8) qgemmTyped<i16, i8>(p, cT);
  else qgemmTyped<i16, i16>(p, cT);
}

/** As the f32 permute (assembly/tn.ts), over elements of 1, 2 or 4 bytes. */
export function qpermute(dst: usize, src: usize, rank: i32, elemBytes: i32, desc: usize): void {
  const dims = desc, strides = desc + (<usize>rank << 2), idx = strides + (<usize>rank << 2);
  const last = rank - 1;
  const inner = load<i32>(dims + (<usize>last << 2));
  const innerStride = <usize>load<i32>(strides + (<usize>last << 2)) * elemBytes;
  let outer = 1;
  for (let j = 0; j < last; j++) outer *= load<i32>(dims + (<usize>j << 2));
  memory.fill(idx, 0, <usize>rank << 2);
  let s: usize = src, d: usize = dst;
  const eb = <usize>elemBytes;
  for (let o = 0; o < outer; o++) {
    if (innerStride == eb) {
      memory.copy(d, s, <usize>inner * eb);
    } else {
      let q = s;
      for (let i = 0; i < inner; i++) {
        if (eb == 1) store<u8>(d + <usize>i, load<u8>(q));
        else if (eb == 2) store<u16>(d + (<usize>i << 1), load<u16>(q));
        else store<u32>(d + (<usize>i << 2), load<u32>(q));
        q += innerStride;
      }
    }
    d += <usize>inner * eb;
    for (let j = last - 1; j >= 0; j--) {
      const ip = idx + (<usize>j << 2);
      const v = load<i32>(ip) + 1;
      const sj = <usize>load<i32>(strides + (<usize>j << 2)) * eb;
      if (v < load<i32>(dims + (<usize>j << 2))) { store<i32>(ip, v); s += sj; break; }
      store<i32>(ip, 0);
      s -= <usize>(v - 1) * sj;
    }
  }
}

export function qbias(y: usize, bias: usize, rows: i32, cols: i32, type: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = <usize>r * cols + j;
      storeQ(y, i, sat(<i64>loadQ(y, i, type) + <i64>load<i32>(bias + (<usize>j << 2)), type), type);
    }
  }
}

export function qrelu(y: usize, x: usize, n: i32, type: i32): void {
  for (let i = 0; i < n; i++) { const v = loadQ(x, <usize>i, type); storeQ(y, <usize>i, v > 0 ? v : 0, type); }
}

export function qlut(dst: usize, src: usize, n: i32, table: usize, type: i32): void {
  for (let i = 0; i < n; i++) storeQ(dst, <usize>i, load<i32>(table + (<usize>load<u8>(src + <usize>i) << 2)), type);
}

export function qaffine(dst: usize, src: usize, mean: usize, invStd: usize, rows: i32, cols: i32, type: i32, frac: i32): void {
  const scale = reinterpret<f64>(<i64>(1023 + frac) << 52); // 2^frac exactly (|frac| ≤ 64)
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = <usize>r * cols + j, pj = <usize>j << 2;
      const v = (load<f32>(src + (i << 2)) - load<f32>(mean + pj)) * load<f32>(invStd + pj);
      const y = <f64>v * scale;
      // f64.nearest rounds half to even; NaN → 0; anything beyond ±2^40 saturates whatever the type.
      const q: i64 = isNaN(y) ? 0 : <i64>nearest<f64>(max(-1099511627776.0, min(1099511627776.0, y)));
      storeQ(dst, i, sat(q, type), type);
    }
  }
}

export function qRun(op: i32, p: usize): void {
  if (op == 18) qgemm(p);
  else if (op == 19) qpermute(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5), p + 24);
  else if (op == 20) qbias(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5), word(p, 6));
  else if (op == 21) qrelu(addr(p, 2), addr(p, 3), word(p, 4), word(p, 5));
  else if (op == 22) qlut(addr(p, 2), addr(p, 3), word(p, 4), addr(p, 5), word(p, 6));
  else if (op == 23) qaffine(addr(p, 2), addr(p, 3), addr(p, 4), addr(p, 5), word(p, 6), word(p, 7), word(p, 8), word(p, 9));
  else unreachable();
}
