// A trained model as a standalone module: the core's program interpreter plus a fixed ABI. The
// exporter (src/export/) appends one data segment at __heap_base holding a header, the weights in
// their tensor format, the input tables, the linked inference program and K test vectors, and
// fixes the memory at the plan's size: no imports, no memory.grow, nothing allocated at run time.
//
// Header (i32 words at __heap_base; the exporter writes it, src/export/abi.ts names the fields):
//   0 magic 'BTNN'  1 ABI version  2 program address  3 program words  4 output address
//   5 output bytes  6 class rule (0 none, 1 argmax of f32 scores, 2 f32 score > 0, 3 argmax of i32)
//   7 output width  8 arena bytes  9 test vectors K  10 their inputs  11 their outputs
//   12 input count  13 + 2i: input i's address, 14 + 2i: its bytes per row
import { tnRun } from '../tn';

// @ts-ignore: decorator
@inline function header(i: i32): i32 { return load<i32>(__heap_base + (<usize>i << 2)); }

const MAGIC: i32 = 0x4e4e5442; // 'BTNN' little-endian

/** Bytes of one input row (every input, concatenated): a test vector's stride. */
function rowBytes(): i32 {
  let n = 0;
  for (let i = 0; i < header(12); i++) n += header(14 + 2 * i);
  return n;
}

function predict(): i32 {
  const rule = header(6), out = <usize>header(4), width = header(7);
  if (rule == 1 || rule == 3) {
    // Ties go to the lowest class and NaN never wins, as in the host's argmax.
    let best = 0;
    if (rule == 1) {
      let top = load<f32>(out);
      for (let c = 1; c < width; c++) { const s = load<f32>(out + (<usize>c << 2)); if (s > top) { top = s; best = c; } }
    } else {
      let top = load<i32>(out);
      for (let c = 1; c < width; c++) { const s = load<i32>(out + (<usize>c << 2)); if (s > top) { top = s; best = c; } }
    }
    return best;
  }
  if (rule == 2) return load<f32>(out) > 0 ? 1 : 0;
  return -1;
}

/** Address of input 0's row. */
export function btnn_input(): usize { return <usize>header(13); }
export function btnn_inputs(): i32 { return header(12); }
/** Address of input i's row (0 for an input the model does not have). */
export function btnn_input_at(i: i32): usize { return i >= 0 && i < header(12) ? <usize>header(13 + 2 * i) : 0; }
export function btnn_input_bytes_at(i: i32): i32 { return i >= 0 && i < header(12) ? header(14 + 2 * i) : 0; }
/** Runs the model on the row at the input addresses; returns the class (−1: a model without classes). */
export function btnn_run(): i32 {
  if (header(0) != MAGIC) unreachable(); // a template module without its model
  tnRun(<usize>header(2), header(3));
  return predict();
}
export function btnn_output(): usize { return <usize>header(4); }
export function btnn_output_bytes(): i32 { return header(5); }
export function btnn_arena_bytes(): i32 { return header(8); }
export function btnn_check_count(): i32 { return header(9); }

/** Runs the K baked test vectors; returns how many reproduce btnn's own outputs bit for bit. */
export function btnn_check(): i32 {
  const k = header(9), stride = rowBytes(), outBytes = header(5);
  let ok = 0;
  for (let v = 0; v < k; v++) {
    let src = <usize>header(10) + <usize>v * stride;
    for (let i = 0; i < header(12); i++) {
      const n = header(14 + 2 * i);
      memory.copy(<usize>header(13 + 2 * i), src, n);
      src += n;
    }
    btnn_run();
    const want = <usize>header(11) + <usize>v * outBytes, got = <usize>header(4);
    let same = true;
    for (let b = 0; b < outBytes; b += 4) if (load<i32>(got + b) != load<i32>(want + b)) { same = false; break; }
    if (same) ok++;
  }
  return ok;
}

/** Where the exporter's data segment begins. */
export function btnn_heap_base(): usize { return __heap_base; }
