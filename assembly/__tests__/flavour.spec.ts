// Guards the two as-pect builds (test/assembly/as-pect*.asconfig.json): the runner says which
// flavour it asked for, and this checks the compiler really built that one.

// @ts-ignore: decorator
@external('env', 'btnnExpectedSimd')
declare function btnnExpectedSimd(): i32;

describe('spec build flavour', () => {
  it('SIMD is enabled exactly when the runner asked for it', () => {
    const want = btnnExpectedSimd();
    log<string>(ASC_FEATURE_SIMD ? 'built with SIMD' : 'built scalar (no SIMD)');
    if (want >= 0) expect<bool>(ASC_FEATURE_SIMD).toBe(want == 1);
  });
});
