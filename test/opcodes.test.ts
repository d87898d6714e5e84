// The IR's op table exists once per side: src/tn/opcodes.ts for the host, TN_* / ACT_* / LOSS_*
// constants in assembly/tn.ts, exported as WebAssembly globals. Every flavour's globals must equal
// the host table entry for entry, in both directions, with the same counts, so the two cannot drift.
import t from 'tap';
import { loadCore, FLAVOURS } from '../src/core/wasm.js';
import { OP_TABLE, OP_COUNT, ACT_CODE, LOSS_CODE, coreGlobalName } from '../src/tn/opcodes.js';
import { OPCODE, link, type Op } from '../src/tn/compile.js';

for (const flavour of FLAVOURS) {
  t.test(`${flavour}: host op table = core exported globals`, async (t) => {
    const core = await loadCore(flavour);
    const globals = core.exports as unknown as Record<string, unknown>;
    const value = (name: string): number | undefined => {
      const g = globals[name];
      return g instanceof WebAssembly.Global ? (g.value as number) : undefined;
    };
    const tables = [
      { prefix: 'TN' as const, table: Object.fromEntries(Object.entries(OP_TABLE).map(([k, v]) => [k, v.code])), count: 'TN_OP_COUNT' },
      { prefix: 'ACT' as const, table: ACT_CODE as Record<string, number>, count: 'ACT_COUNT' },
      { prefix: 'LOSS' as const, table: LOSS_CODE as Record<string, number>, count: 'LOSS_COUNT' },
    ];
    for (const { prefix, table, count } of tables) {
      const names = Object.keys(table);
      for (const name of names) t.equal(value(coreGlobalName(prefix, name)), table[name], `${coreGlobalName(prefix, name)} = ${name}`);
      t.equal(value(count), names.length, `${count} = ${names.length} host entries`);
      const codes = Object.values(table).sort((a, b) => a - b);
      t.same(codes, names.map((_, i) => i + 1), `${prefix} codes are 1..${names.length}, each once`);
      // The other direction: no core constant the host does not know.
      const expected = new Set([...names.map((n) => coreGlobalName(prefix, n)), count]);
      const extra = Object.keys(globals).filter((k) => k.startsWith(`${prefix}_`) && !expected.has(k));
      t.same(extra, [], `no ${prefix}_* global without a host entry`);
    }
    t.equal(OP_COUNT, value('TN_OP_COUNT'), 'OP_COUNT = TN_OP_COUNT');
  });
}

t.test('OPCODE keeps its old values and link emits the table lengths', async (t) => {
  t.same({ ...OPCODE }, {
    gemm: 1, permute: 2, zero: 3, gather: 4, scatter: 5, add: 6, bias: 7, biasGrad: 8, act: 9, actGrad: 10,
    copy2d: 11, interact: 12, interactGrad: 13, loss: 14, scale: 15, lut: 16, affine: 17,
    qgemm: 18, qpermute: 19, qbias: 20, qrelu: 21, qlut: 22, qaffine: 23, gemmI16: 24, packI16: 25,
  });
  const r = { buf: 'b', off: 0 };
  const ops: Op[] = [
    { op: 'permute', dst: r, src: r, dims: [2, 3], strides: [3, 1] },
    { op: 'loss', fn: 'mse', dy: null, y: r, target: r, maxRows: 2, cols: 3, meta: r },
    { op: 'act', fn: 'tanh', y: r, x: r, n: 5 },
  ];
  const w = link(ops, () => 64);
  t.same([...w.subarray(0, 2)], [2, 11], 'permute rank 2: 5 + 3·2 words');
  t.same([...w.subarray(11, 20)], [14, 9, 3, 0, 64, 64, 2, 3, 64], 'loss: fn code, dy null → address 0');
  t.same([...w.subarray(20)], [9, 6, 3, 64, 64, 5], 'act tanh');
  t.throws(() => link([{ op: 'act', fn: 'gelu' as never, y: r, x: r, n: 1 }], () => 64), /act function "gelu"/);
});
