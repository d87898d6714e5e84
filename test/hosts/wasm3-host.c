/*
 * btnn model.wasm test host on wasm3 (MVP interpreter, no SIMD, no WASI, no imports linked).
 * Build (src/scripts/wasm-hosts.mjs does this):
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -I WASM3/source test/hosts/wasm3-host.c WASM3/source/[*].c -lm -o wasm3-host
 * Usage: see host-common.h.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "wasm3.h"

typedef struct rt {
  IM3Environment env;
  IM3Runtime runtime;
  IM3Module module;
  char msg[640];
} rt;

#define WASM3_STACK_BYTES (64 * 1024)

/* "result: message" from wasm3's error info when it has one. */
static const char *rt_error(rt *r, M3Result res) {
  M3ErrorInfo info;
  memset(&info, 0, sizeof info);
  if (r->runtime) m3_GetErrorInfo(r->runtime, &info);
  if (info.message && *info.message)
    snprintf(r->msg, sizeof r->msg, "%s (%s)", res, info.message);
  else
    snprintf(r->msg, sizeof r->msg, "%s", res);
  return r->msg;
}

static const char *rt_load(rt *r, uint8_t *wasm, uint32_t len);
static void *rt_find(rt *r, const char *name);
static const char *rt_call(rt *r, void *fn, int nargs, int32_t arg, int32_t *result);
static uint8_t *rt_memory(rt *r, uint32_t *bytes);

#include "host-common.h"

static const char *rt_load_steps(rt *r, uint8_t *wasm, uint32_t len);

/* wasm3 reports v128 code obliquely ("unknown type", "compiling function underran the stack"). */
static const char *rt_load(rt *r, uint8_t *wasm, uint32_t len) {
  const char *err = rt_load_steps(r, wasm, len);
  if (!err) return NULL;
  if (err != r->msg) snprintf(r->msg, sizeof r->msg, "%s", err);
  size_t n = strlen(r->msg);
  snprintf(r->msg + n, sizeof r->msg - n, " [wasm3 runs MVP WebAssembly: modules with SIMD (v128) code fail to load]");
  return r->msg;
}

static const char *rt_load_steps(rt *r, uint8_t *wasm, uint32_t len) {
  M3Result res;
  r->env = m3_NewEnvironment();
  if (!r->env) return "m3_NewEnvironment failed";
  r->runtime = m3_NewRuntime(r->env, WASM3_STACK_BYTES, NULL);
  if (!r->runtime) return "m3_NewRuntime failed";
  res = m3_ParseModule(r->env, &r->module, wasm, len); /* wasm must outlive the module: never freed */
  if (res) return rt_error(r, res);
  res = m3_LoadModule(r->runtime, r->module);
  if (res) return rt_error(r, res);
  /* Compile everything now so that unsupported opcodes fail at load time, not mid-run. */
  res = m3_CompileModule(r->module);
  if (res) return rt_error(r, res);
  res = m3_RunStart(r->module);
  if (res) return rt_error(r, res);
  if (!m3_GetMemory(r->runtime, NULL, 0)) return "the module has no linear memory";
  return NULL;
}

static void *rt_find(rt *r, const char *name) {
  IM3Function fn = NULL;
  if (m3_FindFunction(&fn, r->runtime, name)) return NULL;
  if (m3_GetRetCount(fn) != 1 || m3_GetRetType(fn, 0) != c_m3Type_i32) return NULL;
  return fn;
}

static const char *rt_call(rt *r, void *fn, int nargs, int32_t arg, int32_t *result) {
  IM3Function f = (IM3Function)fn;
  if (m3_GetArgCount(f) != (uint32_t)nargs) return "unexpected parameter count";
  M3Result res = nargs ? m3_CallV(f, arg) : m3_CallV(f);
  if (res) return rt_error(r, res);
  res = m3_GetResultsV(f, result);
  if (res) return rt_error(r, res);
  return NULL;
}

static uint8_t *rt_memory(rt *r, uint32_t *bytes) {
  uint32_t size = 0;
  uint8_t *base = m3_GetMemory(r->runtime, &size, 0);
  if (bytes) *bytes = size;
  return base;
}

int main(int argc, char **argv) {
  static rt state;
  return host_main(argc, argv, &state, "wasm3-host");
}
