// PERMUTE's kernel: dst (dense, row-major over dims) = src read at arbitrary strides.
//
// A reconstructed TTM weight is permuted between its cores' layout and W's rows twice a step
// (the rebuild, and dW on the way back), 400 k floats each time, with the innermost axis 4 floats
// long: an odometer step and a memory.copy call per 16 bytes ran at ~3 GB/s. So the two innermost
// axes of the walk are loops here, and the odometer only runs over the rest:
//   copy       the last axis is contiguous in src: a loop over the axis before it, each row a
//              run of v128 copies;
//   transpose  the last axis is strided but another axis p is contiguous in src (dW's permutes):
//              4×4 blocks over (p, last), loaded along p, transposed in registers, stored along
//              the last axis;
//   strided    anything else: element copies, still with the axis before the last as a loop.
// Every path moves the same bits (a permute is a copy), so flavours and threads stay identical.

@inline function dimAt(desc: usize, j: i32): i32 { return load<i32>(desc + (<usize>j << 2)); }

/** Copies n floats from s to d, v128 at a time where the flavour has SIMD. */
@inline function copyRow(d: usize, s: usize, n: i32): void {
  let k = 0;
  if (ASC_FEATURE_SIMD) for (; k + 4 <= n; k += 4) v128.store(d + (<usize>k << 2), v128.load(s + (<usize>k << 2)));
  for (; k < n; k++) store<f32>(d + (<usize>k << 2), load<f32>(s + (<usize>k << 2)));
}

/**
 * One inner block at (d, s): axis `mid` (n2 long, src stride s2 floats, dst stride d2) by the last
 * axis (inner long, src stride si, dst stride 1). kind 0 copy, 1 transpose, 2 strided.
 */
@inline function block(kind: i32, d: usize, s: usize, n2: i32, s2: i32, d2: i32, inner: i32, si: i32): void {
  const sb2 = <isize>s2 << 2, db2 = <usize>d2 << 2, sbi = <isize>si << 2;
  if (kind == 0) {
    for (let i = 0; i < n2; i++) copyRow(d + <usize>i * db2, <usize>(<isize>s + <isize>i * sb2), inner);
    return;
  }
  if (ASC_FEATURE_SIMD) if (kind == 1) {
    // s2 == 1 here: four floats along mid are one v128 load.
    const n4 = n2 & ~3, i4 = inner & ~3;
    for (let i = 0; i < n4; i += 4) {
      const di = d + <usize>i * db2, si0 = s + (<usize>i << 2);
      for (let j = 0; j < i4; j += 4) {
        const sj = <usize>(<isize>si0 + <isize>j * sbi);
        const r0 = v128.load(sj), r1 = v128.load(<usize>(<isize>sj + sbi));
        const r2 = v128.load(<usize>(<isize>sj + 2 * sbi)), r3 = v128.load(<usize>(<isize>sj + 3 * sbi));
        // rq holds mid i..i+3 at last j+q; column c of the block is mid i+c at last j..j+3.
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        const dj = di + (<usize>j << 2);
        v128.store(dj, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store(dj + db2, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
        v128.store(dj + 2 * db2, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
        v128.store(dj + 3 * db2, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
      }
      // The last axis's tail, element by element.
      for (let c = 0; c < 4; c++) {
        const dr = di + <usize>c * db2, sr = <isize>si0 + <isize>c * sb2;
        for (let j = i4; j < inner; j++) store<f32>(dr + (<usize>j << 2), load<f32>(<usize>(sr + <isize>j * sbi)));
      }
    }
    // mid's tail rows.
    for (let i = n4; i < n2; i++) {
      const dr = d + <usize>i * db2, sr = <isize>s + <isize>i * sb2;
      for (let j = 0; j < inner; j++) store<f32>(dr + (<usize>j << 2), load<f32>(<usize>(sr + <isize>j * sbi)));
    }
    return;
  }
  for (let i = 0; i < n2; i++) {
    const dr = d + <usize>i * db2, sr = <isize>s + <isize>i * sb2;
    for (let j = 0; j < inner; j++) store<f32>(dr + (<usize>j << 2), load<f32>(<usize>(sr + <isize>j * sbi)));
  }
}

/**
 * PERMUTE: dims at desc, src strides (floats) after them, then `rank` words of the op's own
 * scratch (the odometer over the outer axes).
 */
export function permuteF32(dst: usize, src: usize, rank: i32, desc: usize): void {
  const dims = desc, strides = desc + (<usize>rank << 2), idx = strides + (<usize>rank << 2);
  const last = rank - 1;
  const inner = dimAt(dims, last), si = dimAt(strides, last);
  // The axis looped inside the block: the last-but-one, or for a transpose the contiguous one.
  let kind = si == 1 ? 0 : 2;
  let mid = last - 1;
  if (ASC_FEATURE_SIMD) if (kind == 2) {
    for (let j = last - 1; j >= 0; j--) {
      if (dimAt(strides, j) == 1 && dimAt(dims, j) >= 4 && inner >= 4) { kind = 1; mid = j; break; }
    }
  }
  let n2 = 1, s2 = 0, d2 = 0;
  if (mid >= 0) {
    n2 = dimAt(dims, mid); s2 = dimAt(strides, mid);
    d2 = 1;
    for (let j = mid + 1; j <= last; j++) d2 *= dimAt(dims, j);
  }
  let outer = 1;
  for (let j = 0; j < last; j++) if (j != mid) outer *= dimAt(dims, j);
  memory.fill(idx, 0, <usize>rank << 2);
  let s = <isize>src, d = dst;
  for (let o = 0; o < outer; o++) {
    block(kind, d, <usize>s, n2, s2, d2, inner, si);
    // Advance the odometer over the outer axes, last-1 .. 0 but mid; dstSpan is the product of
    // the dims after axis j (dst is dense over all of them, mid and the last included).
    let dstSpan: usize = <usize>inner;
    for (let j = last - 1; j >= 0; j--) {
      const dj = dimAt(dims, j);
      if (j != mid) {
        const ip = idx + (<usize>j << 2);
        const v = load<i32>(ip) + 1;
        const sj = <isize>dimAt(strides, j) << 2, dsj = dstSpan << 2;
        if (v < dj) { store<i32>(ip, v); s += sj; d += dsj; break; }
        store<i32>(ip, 0);
        s -= <isize>(v - 1) * sj;
        d -= <usize>(v - 1) * dsj;
      }
      dstSpan *= <usize>dj;
    }
  }
}
