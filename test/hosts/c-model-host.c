/* Test host for a C export (model.h + model.c from btnn export --target c), single-input models:
 *   HOST check            prints "check C/K" (btnn_check over the baked vectors)
 *   HOST run IN.bin OUT.bin   IN.bin: rows of BTNN_INPUT0_WIDTH inputs in the model's input type;
 *                         OUT.bin: per row the class (int32 LE) then the BTNN_OUTPUTS f32 scores,
 *                         the format of the wasm hosts, so the files compare byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"


int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "check") == 0) {
    printf("check %d/%d\n", btnn_check(), BTNN_TEST_VECTORS);
    return 0;
  }
  if (argc != 4 || strcmp(argv[1], "run") != 0) { fprintf(stderr, "usage: %s check | run IN.bin OUT.bin\n", argv[0]); return 1; }
  FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "wb");
  if (!in || !out) { fprintf(stderr, "cannot open %s or %s\n", argv[2], argv[3]); return 1; }
  static btnn_input0_t x[BTNN_INPUT0_WIDTH];
  btnn_score_t scores[BTNN_OUTPUTS];
  long rows = 0;
  for (;;) {
    size_t got = fread(x, sizeof x[0], BTNN_INPUT0_WIDTH, in);
    if (got == 0) break;
    if (got != BTNN_INPUT0_WIDTH) { fprintf(stderr, "IN.bin ends mid-row\n"); return 1; }
    int cls = btnn_run(x, scores);
    unsigned char c[4] = { (unsigned char)cls, (unsigned char)(cls >> 8), (unsigned char)(cls >> 16), (unsigned char)(cls >> 24) };
    fwrite(c, 1, 4, out);
    fwrite(scores, sizeof scores[0], BTNN_OUTPUTS, out);
    rows++;
  }
  fclose(in);
  fclose(out);
  printf("rows %ld\n", rows);
  return 0;
}
