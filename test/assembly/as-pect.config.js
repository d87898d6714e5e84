// as-pect configuration for the core's AssemblyScript specs (assembly/__tests__/*.spec.ts).
// It lives here, not at the top level, so nothing picks it up implicitly. Run from the repo root:
//   npx asp --config test/assembly/as-pect.config.js --as-config test/assembly/as-pect.asconfig.json --no-logo          (SIMD)
//   npx asp --config test/assembly/as-pect.config.js --as-config test/assembly/as-pect.scalar.asconfig.json --no-logo   (scalar)
// `npm test` (src/scripts/test-all.mjs) runs both builds. (as-pect 8.1.0 prints its logo even with
// --no-logo: it reads opts.noLogo but commander sets opts.logo; test-all.mjs drops the logo lines.)
export default {
  /** Spec files (globs relative to the working directory, i.e. the repo root). */
  entries: ['assembly/__tests__/**/*.spec.ts'],
  /** Files added to every spec compilation. */
  include: ['assembly/__tests__/**/*.include.ts'],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    // BTNN_ASPECT_SIMD=1|0 (set by src/scripts/test-all.mjs) tells flavour.spec.ts which build
    // this is meant to be; -1 (unset) skips that check.
    const want = process.env.BTNN_ASPECT_SIMD;
    const btnnExpectedSimd = () => (want === '1' ? 1 : want === '0' ? 0 : -1);
    return instantiate(binary, createImports({ env: { memory, btnnExpectedSimd } }));
  },
  outputBinary: false,
};
