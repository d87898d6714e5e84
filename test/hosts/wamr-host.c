/*
 * btnn model.wasm test host on WAMR (iwasm 2.x, fast interpreter with 128-bit SIMD via SIMDe).
 * Build (src/scripts/wasm-hosts.mjs does this):
 *   gcc -std=c99 -O2 -I WAMR/core/iwasm/include test/hosts/wamr-host.c BUILD/libiwasm.a -lm -ldl -lpthread -o wamr-host
 * Usage: see host-common.h.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdint.h>
#include <string.h>
#include "wasm_export.h"

typedef struct rt {
  wasm_module_t module;
  wasm_module_inst_t inst;
  wasm_exec_env_t exec_env;
  wasm_memory_inst_t memory;
  char msg[256];
} rt;

#define WAMR_STACK_BYTES (64 * 1024)
#define WAMR_HEAP_BYTES 0 /* no app heap: the module's memory is all its own */

static const char *rt_load(rt *r, uint8_t *wasm, uint32_t len);
static void *rt_find(rt *r, const char *name);
static const char *rt_call(rt *r, void *fn, int nargs, int32_t arg, int32_t *result);
static uint8_t *rt_memory(rt *r, uint32_t *bytes);

#include "host-common.h"

static const char *rt_load(rt *r, uint8_t *wasm, uint32_t len) {
  RuntimeInitArgs init;
  memset(&init, 0, sizeof init);
  init.mem_alloc_type = Alloc_With_System_Allocator;
  init.running_mode = Mode_Interp;
  if (!wasm_runtime_full_init(&init)) return "wasm_runtime_full_init failed";
  wasm_runtime_set_log_level(WASM_LOG_LEVEL_ERROR);
  /* wasm must stay writable and alive while the module is loaded: never freed */
  r->module = wasm_runtime_load(wasm, len, r->msg, sizeof r->msg);
  if (!r->module) return r->msg;
  r->inst = wasm_runtime_instantiate(r->module, WAMR_STACK_BYTES, WAMR_HEAP_BYTES, r->msg, sizeof r->msg);
  if (!r->inst) return r->msg;
  if (!wasm_runtime_set_running_mode(r->inst, Mode_Interp)) return "the interpreter is not available";
  r->exec_env = wasm_runtime_create_exec_env(r->inst, WAMR_STACK_BYTES);
  if (!r->exec_env) return "wasm_runtime_create_exec_env failed";
  r->memory = wasm_runtime_get_default_memory(r->inst);
  if (!r->memory) return "the module has no linear memory";
  return NULL;
}

static void *rt_find(rt *r, const char *name) {
  wasm_function_inst_t fn = wasm_runtime_lookup_function(r->inst, name);
  if (!fn) return NULL;
  wasm_valkind_t kind;
  if (wasm_func_get_result_count(fn, r->inst) != 1) return NULL;
  wasm_func_get_result_types(fn, r->inst, &kind);
  if (kind != WASM_I32) return NULL;
  return fn;
}

static const char *rt_call(rt *r, void *fn, int nargs, int32_t arg, int32_t *result) {
  uint32_t argv[2];
  argv[0] = (uint32_t)arg;
  if (!wasm_runtime_call_wasm(r->exec_env, (wasm_function_inst_t)fn, (uint32_t)nargs, argv)) {
    const char *e = wasm_runtime_get_exception(r->inst);
    snprintf(r->msg, sizeof r->msg, "%s", e ? e : "call failed");
    wasm_runtime_clear_exception(r->inst);
    return r->msg;
  }
  *result = (int32_t)argv[0];
  return NULL;
}

static uint8_t *rt_memory(rt *r, uint32_t *bytes) {
  if (bytes) {
    uint64_t n = wasm_memory_get_cur_page_count(r->memory) * wasm_memory_get_bytes_per_page(r->memory);
    *bytes = n > 0xffffffffu ? 0xffffffffu : (uint32_t)n;
  }
  return (uint8_t *)wasm_memory_get_base_address(r->memory);
}

int main(int argc, char **argv) {
  static rt state;
  return host_main(argc, argv, &state, "wamr-host");
}
