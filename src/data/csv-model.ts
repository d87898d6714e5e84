// A CSV read the way a trained model reads it: the model file's data dictionary (btnn.data: the
// numeric columns by header name, each categorical column's vocabulary, the class names and the
// label column) decides the columns, the ids and the classes, so rows of a new file map to the
// same inputs as the training rows did. Values unseen in training get id 0, as in training; a
// class the model does not know is an error (it cannot be scored).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import { columnList, parseCsv, parseNumber, show } from './csv.js';
import { DataError, type Column, type Dataset } from './dataset.js';

/** What a model file's `btnn.data` says of its columns (src/train/train.ts dataDictionary). */
export interface DataDictionary {
  classes?: string[];
  columns: Record<string, { dtype: string; width: number; names?: string[]; vocab?: string[] }>;
  train?: { label?: string; kind?: string };
}

export function loadCsvForModel(path: string, dict: DataDictionary): Dataset {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new DataError(`--data ${path}: cannot read (${(err as Error).message})`);
  }
  const t = parseCsv(buf.toString('utf8'), path);
  const label = dict.train?.label;
  if (!label) throw new DataError(`--data ${path}: the model was not trained on a CSV (its data dictionary names no label column); give the kind of data it was trained on`);
  const col = (name: string): number => {
    const c = t.header.indexOf(name);
    if (c < 0) throw new DataError(`${path}: line 1: no column ${show(name)}, which the model reads (the file has ${columnList(t.header)})`);
    return c;
  };
  const n = t.rows;
  if (n === 0) throw new DataError(`${path}: only a header; there are no rows to evaluate`);
  const inputs: Column[] = [];
  for (const [name, c] of Object.entries(dict.columns)) {
    if (c.dtype === 'f32') {
      const names = c.names ?? [];
      const at = names.map(col);
      const data = new Float32Array(n * names.length);
      for (let r = 0; r < n; r++) {
        at.forEach((ci, j) => {
          const v = parseNumber(t.cell(r, ci));
          if (!Number.isFinite(v)) throw new DataError(`${path}: line ${t.line(r)}, column ${names[j]}: ${JSON.stringify(t.cell(r, ci))} is not a number; the model reads this column as numeric`);
          data[r * names.length + j] = v;
        });
      }
      inputs.push({ name, dtype: 'f32', width: names.length, data, names });
    } else if (c.dtype === 'i32') {
      const source = c.names?.[0] ?? name;
      const ci = col(source);
      const vocab = c.vocab ?? [];
      const ids = new Map(vocab.map((v, i) => [v, i]));
      const data = new Int32Array(n);
      for (let r = 0; r < n; r++) data[r] = ids.get(t.cell(r, ci)) ?? 0; // unseen in training: id 0
      inputs.push({ name, dtype: 'i32', width: 1, data, vocab, names: [source] });
    } else {
      throw new DataError(`--data ${path}: the model reads ${name} as ${c.dtype}, which a CSV does not hold`);
    }
  }
  const li = col(label);
  let target: Dataset['target'];
  if (dict.classes) {
    const classes = new Map(dict.classes.map((v, i) => [v, i]));
    const numeric = dict.classes.every((v) => Number.isFinite(parseNumber(v)));
    const data = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const raw = t.cell(r, li);
      const key = numeric && Number.isFinite(parseNumber(raw)) ? String(parseNumber(raw)) : raw;
      const id = classes.get(key);
      if (id === undefined) throw new DataError(`${path}: line ${t.line(r)}, column ${label}: class ${JSON.stringify(raw)} is not one the model knows (${dict.classes.join(', ')})`);
      data[r] = id;
    }
    target = { kind: 'classes', classes: dict.classes.length, names: dict.classes, data };
  } else {
    const data = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      const v = parseNumber(t.cell(r, li));
      if (!Number.isFinite(v)) throw new DataError(`${path}: line ${t.line(r)}, column ${label}: ${JSON.stringify(t.cell(r, li))} is not a number`);
      data[r] = v;
    }
    target = { kind: 'values', width: 1, data };
  }
  return {
    name: basename(path, extname(path)),
    source: { kind: 'csv', path, sha256: createHash('sha256').update(buf).digest('hex'), split: 'test', rows: t.rows, label },
    count: n, inputs, target,
  };
}
