/* btnn inference kernels for exported C models (C99, no allocation, no libm).
 * Each kernel computes exactly what the core's op of the same name computes (assembly/tn.ts,
 * assembly/ops.ts, assembly/gemm.ts): the same per-element order of float operations, one
 * multiply then one add, so with -ffp-contract=off (no fused multiply-add) the scores equal the
 * WebAssembly module's bit for bit. The model defines BTNN_K_<OP> for each kernel its program uses. */

/* C(i,j) = (acc ? C(i,j) : 0) + sum over t, then k, of A_t(i,k) * B_t(k,j), for h batched problems. */
#ifdef BTNN_K_GEMM
static void btnn_gemm(float *c, int ldc, const float *a, int sai, int sak, int stride_a,
                      const float *b, int ldb, int stride_b, int m, int n, int k, int batch, int acc,
                      int h, int hc, int ha, int hb) {
  int x, i, j, t, kk;
  for (x = 0; x < h; x++) {
    float *cx = c + (long)x * hc;
    const float *ax = a + (long)x * ha, *bx = b + (long)x * hb;
    for (i = 0; i < m; i++) {
      for (j = 0; j < n; j++) {
        float s = acc ? cx[(long)i * ldc + j] : 0.0f;
        for (t = 0; t < batch; t++) {
          const float *pa = ax + (long)t * stride_a + (long)i * sai;
          const float *pb = bx + (long)t * stride_b + j;
          for (kk = 0; kk < k; kk++) s += pa[(long)kk * sak] * pb[(long)kk * ldb];
        }
        cx[(long)i * ldc + j] = s;
      }
    }
  }
}
#endif


#ifdef BTNN_K_ZERO
static void btnn_zero(float *dst, int n) { int i; for (i = 0; i < n; i++) dst[i] = 0.0f; }
#endif

#ifdef BTNN_K_ADD
static void btnn_add(float *y, const float *x, int n) { int i; for (i = 0; i < n; i++) y[i] = y[i] + x[i]; }
#endif

#ifdef BTNN_K_BIAS
static void btnn_bias(float *y, const float *bias, int rows, int cols) {
  int r, j;
  for (r = 0; r < rows; r++) for (j = 0; j < cols; j++) y[(long)r * cols + j] = y[(long)r * cols + j] + bias[j];
}
#endif

/* max(x, 0) with NaN and -0 giving +0, as the core's relu. */
#ifdef BTNN_K_RELU
static void btnn_relu(float *y, const float *x, int n) { int i; for (i = 0; i < n; i++) { float v = x[i]; y[i] = v > 0.0f ? v : 0.0f; } }
#endif

#ifdef BTNN_K_COPY2D
static void btnn_copy2d(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols, int acc) {
  int r, j;
  for (r = 0; r < rows; r++) {
    float *d = dst + (long)r * ld_dst;
    const float *s = src + (long)r * ld_src;
    if (acc) for (j = 0; j < cols; j++) d[j] = d[j] + s[j];
    else for (j = 0; j < cols; j++) d[j] = s[j]; /* a bit copy: -0 stays -0 */
  }
}
#endif

#ifdef BTNN_K_INTERACT
static void btnn_interact(float *z, const float *t, int rows, int k, int d) {
  int r, i, j, c;
  for (r = 0; r < rows; r++) {
    const float *tr = t + (long)r * k * d;
    for (i = 1; i < k; i++) {
      for (j = 0; j < i; j++) {
        float s = 0.0f;
        for (c = 0; c < d; c++) s += tr[(long)i * d + c] * tr[(long)j * d + c];
        *z++ = s;
      }
    }
  }
}
#endif

#ifdef BTNN_K_SCALE
static void btnn_scale(float *y, int n, float alpha) { int i; for (i = 0; i < n; i++) y[i] = y[i] * alpha; }
#endif

#ifdef BTNN_K_LUT
static void btnn_lut(float *dst, const unsigned char *src, int n, const float *table) { int i; for (i = 0; i < n; i++) dst[i] = table[src[i]]; }
#endif

#ifdef BTNN_K_AFFINE
static void btnn_affine(float *dst, const float *src, const float *mean, const float *inv_std, int rows, int cols) {
  int r, j;
  for (r = 0; r < rows; r++) for (j = 0; j < cols; j++) dst[(long)r * cols + j] = (src[(long)r * cols + j] - mean[j]) * inv_std[j];
}
#endif

/* ---- integer kernels (assembly/quant.ts): element types 0 int8, 1 int16, 2 int32 ---- */
#if defined(BTNN_K_QGEMM) || defined(BTNN_K_QBIAS) || defined(BTNN_K_QRELU) || defined(BTNN_K_QLUT) || defined(BTNN_K_QAFFINE)
/* Loads and stores through memcpy: no alignment or aliasing assumptions about the byte arena. */
static int32_t btnn_ldq(const unsigned char *p, long i, int type) {
  if (type == 0) return (int32_t)(signed char)p[i];
  if (type == 1) { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
  { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
}
static void btnn_stq(unsigned char *p, long i, int32_t v, int type) {
  if (type == 0) { signed char c = (signed char)v; memcpy(p + i, &c, 1); }
  else if (type == 1) { int16_t s = (int16_t)v; memcpy(p + 2 * i, &s, 2); }
  else memcpy(p + 4 * i, &v, 4);
}
static int32_t btnn_sat(int64_t v, int type) {
  const int64_t hi = type == 0 ? 127 : type == 1 ? 32767 : 2147483647;
  return (int32_t)(v > hi ? hi : v < -hi - 1 ? -hi - 1 : v);
}
#endif

#ifdef BTNN_K_QGEMM
/* int32 two's complement wrap of a 32-bit pattern, without implementation-defined conversions. */
static int32_t btnn_wrap32(uint32_t u) { return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1; }

/* acc / 2^shift rounded to nearest, ties to even (shift > 0), or acc * 2^-shift (shift <= 0), saturated. */
static int32_t btnn_requant(int32_t acc, int shift, int type) {
  int64_t a = acc, q, rem, half;
  if (shift <= 0) return btnn_sat(a * ((int64_t)1 << -shift), type);
  q = a >= 0 ? a / ((int64_t)1 << shift) : -((-a - 1) / ((int64_t)1 << shift)) - 1; /* floor */
  rem = a - q * ((int64_t)1 << shift);
  half = (int64_t)1 << (shift - 1);
  if (rem > half || (rem == half && (q & 1) != 0)) q += 1;
  return btnn_sat(q, type);
}

static void btnn_qgemm(unsigned char *c, int ldc, const unsigned char *a, int sai, int sak, int stride_a,
                       const unsigned char *b, int ldb, int stride_b, int m, int n, int k, int batch,
                       int h, int hc, int ha, int hb, int types, int shift) {
  const int at = types & 3, bt = (types >> 2) & 3, ct = (types >> 4) & 3;
  int x, i, j, t, kk;
  for (x = 0; x < h; x++) {
    for (i = 0; i < m; i++) {
      for (j = 0; j < n; j++) {
        uint32_t acc = 0; /* wraps mod 2^32, as i32.add does */
        for (t = 0; t < batch; t++) {
          long ia = (long)x * ha + (long)t * stride_a + (long)i * sai, ib = (long)x * hb + (long)t * stride_b + j;
          for (kk = 0; kk < k; kk++) {
            acc += (uint32_t)(btnn_ldq(a, ia, at) * btnn_ldq(b, ib, bt)); /* |product| <= 2^30 */
            ia += sak; ib += ldb;
          }
        }
        btnn_stq(c, (long)x * hc + (long)i * ldc + j, ct == 2 ? btnn_wrap32(acc) : btnn_requant(btnn_wrap32(acc), shift, ct), ct);
      }
    }
  }
}
#endif

/* dst (dense, row-major over dims) = src read through strides, elements of `elem` bytes moved as
 * bits (f32 and integer programs alike); desc holds dims then strides. */
#ifdef BTNN_K_PERMUTE
static void btnn_permute(unsigned char *dst, const unsigned char *src, int rank, int elem, const int *desc) {
  int idx[16] = {0};
  const int *dims = desc, *strides = desc + rank;
  long total = 1, o;
  int j;
  for (j = 0; j < rank; j++) total *= dims[j];
  for (o = 0; o < total; o++) {
    long s = 0;
    for (j = 0; j < rank; j++) s += (long)idx[j] * strides[j];
    memcpy(dst + o * elem, src + s * elem, (size_t)elem);
    for (j = rank - 1; j >= 0; j--) { if (++idx[j] < dims[j]) break; idx[j] = 0; }
  }
}
#endif

#ifdef BTNN_K_QBIAS
static void btnn_qbias(unsigned char *y, const int32_t *bias, int rows, int cols, int type) {
  int r, j;
  for (r = 0; r < rows; r++) for (j = 0; j < cols; j++) {
    long i = (long)r * cols + j;
    btnn_stq(y, i, btnn_sat((int64_t)btnn_ldq(y, i, type) + bias[j], type), type);
  }
}
#endif

#ifdef BTNN_K_QRELU
static void btnn_qrelu(unsigned char *y, const unsigned char *x, int n, int type) {
  int i;
  for (i = 0; i < n; i++) { int32_t v = btnn_ldq(x, i, type); btnn_stq(y, i, v > 0 ? v : 0, type); }
}
#endif

#ifdef BTNN_K_QLUT
static void btnn_qlut(unsigned char *dst, const unsigned char *src, int n, const int32_t *table, int type) {
  int i;
  for (i = 0; i < n; i++) btnn_stq(dst, i, table[src[i]], type);
}
#endif

#ifdef BTNN_K_QAFFINE
/* round half to even of a finite double within +-2^40 */
static double btnn_nearest(double y) {
  double f = (double)(int64_t)y, r;
  if (f > y) f -= 1.0; /* floor */
  r = y - f;
  if (r > 0.5 || (r == 0.5 && ((int64_t)f & 1) != 0)) f += 1.0;
  return f;
}
static void btnn_qaffine(unsigned char *dst, const unsigned char *src, const float *mean, const float *inv_std, int rows, int cols, int type, int frac) {
  double scale = 1.0;
  int r, j, e;
  for (e = 0; e < (frac < 0 ? -frac : frac); e++) scale = frac < 0 ? scale / 2.0 : scale * 2.0;
  for (r = 0; r < rows; r++) for (j = 0; j < cols; j++) {
    long i = (long)r * cols + j;
    float x, v;
    double y;
    int64_t q;
    memcpy(&x, src + 4 * i, 4);
    v = (x - mean[j]) * inv_std[j];
    y = (double)v * scale;
    if (y != y) q = 0;
    else q = (int64_t)btnn_nearest(y > 1099511627776.0 ? 1099511627776.0 : y < -1099511627776.0 ? -1099511627776.0 : y);
    btnn_stq(dst, i, btnn_sat(q, type), type);
  }
}
#endif
