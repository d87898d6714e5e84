// Where the calibration rows of an integer export come from: the first N rows of the training split
// of the model's data (MNIST by default, or the IDX directory given by --data); a CSV given by --data
// calibrates on its own rows. They are read as the model reads them (its spec bound to them).
import { existsSync, statSync } from 'node:fs';
import type { ModelSpec } from '../spec/types.js';
import { loadData } from '../data/source.js';
import { closeDataset, sliceRows, type Dataset } from '../data/dataset.js';
import { bindSpec, dataSource } from '../train/data.js';
import type { Calibration } from '../image/quant-image.js';

export function calibrationRows(spec: ModelSpec, test: Dataset, data: string | undefined, rows: number): { calibration: Calibration; close: () => void; from: string } {
  const src = data ?? 'mnist';
  const csv = src !== 'mnist' && existsSync(src) && !statSync(src).isDirectory();
  const train = csv ? null : loadData(src).train;
  const ds = train ?? test;
  if (train) bindSpec(spec, train); // the same columns and widths as the test rows, or a clear refusal
  const n = Math.min(rows, ds.count);
  const picked = sliceRows(ds, 0, n);
  return {
    calibration: { source: dataSource(picked, spec), rows: n },
    close: () => { if (train) closeDataset(train); },
    from: `${n} ${train ? 'training' : 'CSV'} rows of ${ds.name}`,
  };
}
