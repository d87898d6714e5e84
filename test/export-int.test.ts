// btnn export at 16 and 8 bits: the integer modules (V8, wasm3, WAMR scalar and SIMD) and the C
// export reproduce btnn eval --bits's integer scores bit for bit (test/helpers/export-check.ts).
import { checkExports } from './helpers/export-check.js';

checkExports([16, 8]);
