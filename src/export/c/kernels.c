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

/* dst (dense, row-major over dims) = src read through strides; desc holds dims then strides. */
#ifdef BTNN_K_PERMUTE
static void btnn_permute(float *dst, const float *src, int rank, const int *desc) {
  int idx[16] = {0};
  const int *dims = desc, *strides = desc + rank;
  long total = 1, o;
  int j;
  for (j = 0; j < rank; j++) total *= dims[j];
  for (o = 0; o < total; o++) {
    long s = 0;
    for (j = 0; j < rank; j++) s += (long)idx[j] * strides[j];
    dst[o] = src[s];
    for (j = rank - 1; j >= 0; j--) { if (++idx[j] < dims[j]) break; idx[j] = 0; }
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
