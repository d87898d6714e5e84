/*
 * Shared driver of the btnn model.wasm test hosts (wasm3-host.c, wamr-host.c).
 *
 * A host file defines the runtime part before including this header:
 *   typedef struct rt rt;                      runtime state
 *   static const char *rt_load(rt *r, uint8_t *wasm, uint32_t len);   NULL or an error message
 *   static void *rt_find(rt *r, const char *name);                     NULL if not exported
 *   static const char *rt_call(rt *r, void *fn, int nargs, int32_t arg, int32_t *result);
 *   static uint8_t *rt_memory(rt *r, uint32_t *bytes);                 base of linear memory 0
 * and calls host_main(argc, argv, &state, "name") from main.
 *
 * Command lines (see usage()):
 *   HOST MODEL.wasm check                  -> "check C/K"
 *   HOST MODEL.wasm run IN.bin OUT.bin     -> "rows N"; OUT.bin = per row int32 LE class + output bytes
 *   HOST MODEL.wasm time IN.bin REPEATS    -> "ns_per_row_median X"
 * Errors go to stderr with exit status 1.
 */
#ifndef BTNN_HOST_COMMON_H
#define BTNN_HOST_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOST_MAX_INPUTS 64

static const char *host_name = "host";

static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", host_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* Whole file into a malloc'd buffer (writable: WAMR may patch the module bytes in place). */
static uint8_t *read_all(const char *path, uint32_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = (uint8_t *)malloc(cap);
  if (!buf) die("out of memory reading %s", path);
  for (;;) {
    if (n == cap) {
      if (cap > (size_t)0x7fffffff) die("%s is too large", path);
      cap *= 2;
      uint8_t *b = (uint8_t *)realloc(buf, cap);
      if (!b) die("out of memory reading %s", path);
      buf = b;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) die("cannot read %s: %s", path, strerror(errno));
  fclose(f);
  *len = (uint32_t)n;
  return buf;
}

typedef struct {
  void *inputs, *input_at, *input_bytes_at, *run, *output, *output_bytes, *check, *check_count;
} host_fns;

static void *need(rt *r, const char *name) {
  void *fn = rt_find(r, name);
  if (!fn) die("the module does not export %s", name);
  return fn;
}

static int32_t call0(rt *r, void *fn, const char *name) {
  int32_t v = 0;
  const char *err = rt_call(r, fn, 0, 0, &v);
  if (err) die("%s() failed: %s", name, err);
  return v;
}

static int32_t call1(rt *r, void *fn, const char *name, int32_t arg) {
  int32_t v = 0;
  const char *err = rt_call(r, fn, 1, arg, &v);
  if (err) die("%s(%d) failed: %s", name, (int)arg, err);
  return v;
}

/* Checks that [addr, addr + bytes) lies in linear memory. */
static void in_memory(rt *r, int32_t addr, int32_t bytes, const char *what) {
  uint32_t size = 0;
  if (!rt_memory(r, &size)) die("the module has no linear memory");
  if (addr < 0 || bytes < 0 || (uint64_t)(uint32_t)addr + (uint32_t)bytes > size)
    die("%s [%d, +%d) is outside the %u-byte memory", what, (int)addr, (int)bytes, size);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int usage(void) {
  fprintf(stderr,
          "usage: %s MODEL.wasm check\n"
          "       %s MODEL.wasm run IN.bin OUT.bin\n"
          "       %s MODEL.wasm time IN.bin REPEATS\n",
          host_name, host_name, host_name);
  return 1;
}

static int host_main(int argc, char **argv, rt *r, const char *name) {
  host_name = name;
  if (argc < 3) return usage();
  const char *mode = argv[2];
  int is_check = !strcmp(mode, "check"), is_run = !strcmp(mode, "run"), is_time = !strcmp(mode, "time");
  if (!(is_check && argc == 3) && !(is_run && argc == 5) && !(is_time && argc == 5)) return usage();

  long repeats = 0;
  if (is_time) {
    char *end = NULL;
    repeats = strtol(argv[4], &end, 10);
    if (!*argv[4] || *end || repeats < 1 || repeats > 1000000) die("REPEATS must be a positive integer, not %s", argv[4]);
  }

  uint32_t wasm_len = 0;
  uint8_t *wasm = read_all(argv[1], &wasm_len);
  const char *err = rt_load(r, wasm, wasm_len);
  if (err) die("cannot load %s: %s", argv[1], err);

  host_fns f;
  if (is_check) {
    f.check = need(r, "btnn_check");
    f.check_count = need(r, "btnn_check_count");
    int32_t c = call0(r, f.check, "btnn_check");
    int32_t k = call0(r, f.check_count, "btnn_check_count");
    printf("check %d/%d\n", (int)c, (int)k);
    return 0;
  }

  f.inputs = need(r, "btnn_inputs");
  f.input_at = need(r, "btnn_input_at");
  f.input_bytes_at = need(r, "btnn_input_bytes_at");
  f.run = need(r, "btnn_run");
  f.output = need(r, "btnn_output");
  f.output_bytes = need(r, "btnn_output_bytes");

  int32_t n_in = call0(r, f.inputs, "btnn_inputs");
  if (n_in < 1 || n_in > HOST_MAX_INPUTS) die("btnn_inputs() = %d is not in 1..%d", (int)n_in, HOST_MAX_INPUTS);
  int32_t in_addr[HOST_MAX_INPUTS], in_bytes[HOST_MAX_INPUTS];
  size_t row_bytes = 0;
  for (int32_t i = 0; i < n_in; i++) {
    in_addr[i] = call1(r, f.input_at, "btnn_input_at", i);
    in_bytes[i] = call1(r, f.input_bytes_at, "btnn_input_bytes_at", i);
    in_memory(r, in_addr[i], in_bytes[i], "input");
    row_bytes += (size_t)in_bytes[i];
  }
  if (row_bytes == 0) die("the module's inputs have 0 bytes per row");

  uint32_t in_len = 0;
  uint8_t *in = read_all(argv[3], &in_len);
  if (in_len % row_bytes)
    die("%s has %u bytes, not a whole number of %zu-byte rows", argv[3], in_len, row_bytes);
  size_t rows = in_len / row_bytes;

  if (is_run) {
    FILE *out = fopen(argv[4], "wb");
    if (!out) die("cannot create %s: %s", argv[4], strerror(errno));
    int32_t out_bytes_first = -1;
    for (size_t row = 0; row < rows; row++) {
      const uint8_t *src = in + row * row_bytes;
      uint8_t *mem = rt_memory(r, NULL); /* stable: these modules never grow memory */
      for (int32_t i = 0; i < n_in; i++) {
        memcpy(mem + in_addr[i], src, (size_t)in_bytes[i]);
        src += in_bytes[i];
      }
      int32_t cls = call0(r, f.run, "btnn_run");
      int32_t oa = call0(r, f.output, "btnn_output");
      int32_t ob = call0(r, f.output_bytes, "btnn_output_bytes");
      if (out_bytes_first < 0) out_bytes_first = ob;
      else if (ob != out_bytes_first) die("btnn_output_bytes() changed from %d to %d at row %zu", (int)out_bytes_first, (int)ob, row);
      in_memory(r, oa, ob, "output");
      mem = rt_memory(r, NULL);
      uint8_t le[4] = {(uint8_t)cls, (uint8_t)((uint32_t)cls >> 8), (uint8_t)((uint32_t)cls >> 16), (uint8_t)((uint32_t)cls >> 24)};
      if (fwrite(le, 1, 4, out) != 4 || fwrite(mem + oa, 1, (size_t)ob, out) != (size_t)ob)
        die("cannot write %s: %s", argv[4], strerror(errno));
    }
    if (fclose(out)) die("cannot write %s: %s", argv[4], strerror(errno));
    printf("rows %zu\n", rows);
    return 0;
  }

  /* time */
  if (rows == 0) die("%s has no rows to time", argv[3]);
  double *per_row = (double *)malloc(sizeof(double) * (size_t)repeats);
  if (!per_row) die("out of memory");
  for (long rep = 0; rep < repeats; rep++) {
    uint64_t t0 = now_ns();
    for (size_t row = 0; row < rows; row++) {
      const uint8_t *src = in + row * row_bytes;
      uint8_t *mem = rt_memory(r, NULL);
      for (int32_t i = 0; i < n_in; i++) {
        memcpy(mem + in_addr[i], src, (size_t)in_bytes[i]);
        src += in_bytes[i];
      }
      int32_t cls = 0;
      const char *e = rt_call(r, f.run, 0, 0, &cls);
      if (e) die("btnn_run() failed at row %zu: %s", row, e);
    }
    uint64_t t1 = now_ns();
    per_row[rep] = (double)(t1 - t0) / (double)rows;
  }
  qsort(per_row, (size_t)repeats, sizeof(double), cmp_double);
  double median = repeats % 2 ? per_row[repeats / 2] : (per_row[repeats / 2 - 1] + per_row[repeats / 2]) / 2;
  printf("ns_per_row_median %.1f\n", median);
  return 0;
}

#endif
