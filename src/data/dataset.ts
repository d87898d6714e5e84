// The one shape every data source produces (MNIST, a directory of IDX files, a CSV), so the
// trainer has a single place to turn rows into model inputs. Values stay in the file's dtype
// (u8 pixels stay u8 with a scale) because a 60 000-image set is 47 MB as bytes and 188 MB as
// f32; the consumer widens one batch at a time.

import type { FileBytes } from './file-bytes.js';
import type { FileColumn } from './row-file.js';

export type ColumnDType = 'f32' | 'u8' | 'i32';

/** count × width values of one model input, in the file's dtype (u8 IDX pixels stay u8: a 60 000-image set is 47 MB, not 188). */
export interface Column {
  name: string;
  dtype: ColumnDType;
  width: number;
  /** In memory, or (large uncompressed IDX images) read from the file a row at a time. */
  data: Float32Array | Uint8Array | Int32Array | FileBytes | FileColumn;
  /** u8 columns: the value a byte stands for is byte·scale (IDX pixels: 1/255). */
  scale?: number;
  /**
   * i32 id columns: the vocabulary, id 0 reserved for values unseen in training. vocab[0] is a
   * placeholder ('<unseen>', never a value) so vocab.length is the embedding table size and
   * vocab[id] names id.
   */
  vocab?: string[];
  /** The source's names for the width values (CSV: the header names, in file order). */
  names?: string[];
  /**
   * i32 columns of 32-bit category hashes (a click log's): an id is the hash modulo the rows of
   * the embedding table that reads the column, so the table size is the model's choice.
   */
  hashed?: boolean;
}

export type Target =
  | { kind: 'classes'; classes: number; names?: string[]; data: Int32Array }
  | { kind: 'values'; width: number; data: Float32Array | FileColumn };

/** The target's values in memory (a click log's training labels are read from its file). */
export function targetArray(t: Target): Int32Array | Float32Array {
  return t.data instanceof Int32Array || t.data instanceof Float32Array ? t.data : t.data.toArray() as Float32Array;
}

export interface DataSourceInfo {
  kind: 'mnist' | 'idx' | 'csv' | 'criteo' | 'spam-assassin';
  /** The file or directory read for this split. */
  path: string;
  /** Hex sha256 of the (decompressed) bytes read for this split, in a fixed file order. */
  sha256: string;
  split: 'train' | 'test';
  /** Rows of this split before any --limit-train / --limit-test (count is after). */
  rows: number;
  /** CSV: the label column's header name. */
  label?: string;
  /** Criteo logs: malformed lines skipped. */
  badLines?: number;
}

export interface Dataset {
  name: string;
  source: DataSourceInfo;
  count: number;
  inputs: Column[];
  target: Target;
}

/** Gives back what a dataset holds open (columns read from their files). */
export function closeDataset(ds: Dataset): void {
  for (const c of ds.inputs) (c.data as { close?: () => void }).close?.();
}

/** A user error: the message names the file, line, column and value, and the fix. */
export class DataError extends Error {
  override name = 'DataError';
}

/** Placeholder for id 0 of every vocabulary (see Column.vocab). */
export const kUnseen = '<unseen>';

/**
 * Rows [start, end) of ds as a new Dataset whose arrays are copies: a carved test split or a
 * limited train split must not pin (or alias) the full file's buffers.
 */
export function sliceRows(ds: Dataset, start: number, end: number, source?: Partial<DataSourceInfo>): Dataset {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= ds.count)) {
    throw new RangeError(`sliceRows(${start}, ${end}) outside 0..${ds.count}`);
  }
  const inputs = ds.inputs.map((c) => ({ ...c, data: c.data.slice(start * c.width, end * c.width) }));
  const t = ds.target;
  const target: Target =
    t.kind === 'classes'
      ? { ...t, data: t.data.slice(start, end) }
      : { ...t, data: t.data.slice(start * t.width, end * t.width) };
  return { ...ds, source: { ...ds.source, ...source }, count: end - start, inputs, target };
}

/**
 * The first `limit` rows (all when undefined). `flag` is the option's CLI spelling, so the error
 * names what the user typed.
 */
export function limitRows(ds: Dataset, limit: number | undefined, flag: string): Dataset {
  if (limit === undefined) return ds;
  if (!(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new DataError(`${flag} ${limit}: must be an integer >= 1 (or omit it for all rows)`);
  }
  if (limit > ds.count) {
    throw new DataError(
      `${flag} ${limit}: exceeds the ${ds.count} rows of the ${ds.source.split} split of ${ds.source.path}; ` +
        `use at most ${ds.count}`,
    );
  }
  if (limit === ds.count) return ds;
  const kept = sliceRows(ds, 0, limit);
  closeDataset(ds); // the slice holds what it needs (a file-backed slice holds its file)
  return kept;
}

/** Rows of the test split carved from the end of n rows by --test-split F: ⌈F·n⌉. */
export function splitTestRows(n: number, testSplit: number, path: string): number {
  if (!(typeof testSplit === 'number' && testSplit > 0 && testSplit < 1)) {
    throw new DataError(`--test-split ${testSplit}: must be a fraction in (0, 1), e.g. 0.2 for the last 20% of rows`);
  }
  const test = Math.ceil(testSplit * n);
  if (test >= n) {
    throw new DataError(
      `--test-split ${testSplit}: ${path} has ${n} rows, so the test split (${test} rows) leaves none ` +
        `to train on; use a smaller fraction or a separate --test file`,
    );
  }
  return test;
}
