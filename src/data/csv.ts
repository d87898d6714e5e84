// CSV reader and dataset builder. RFC 4180 (header row; "quoted, fields" with doubled ""
// quotes and line breaks; CRLF or LF; trailing newline optional) plus a stripped UTF-8 BOM.
//
// The file is read once into one string and tokenised once into cell offsets (8 bytes a cell
// plus 1), not into a string per cell: a 100 MB CSV of short numbers holds tens of millions of
// cells, and the builder needs two looks at the train rows (type the columns, then fill them).
//
// Rules the builder applies, all on the TRAIN split so the test split cannot change the model:
//   - a column whose every non-empty cell is a finite decimal number is numeric; all numeric
//     columns together form ONE f32 input `x` (header order, names in Column.names);
//   - any other column is categorical: an i32 input of width 1 named after the column
//     (sanitised to an identifier), ids 1.. in order of first appearance, id 0 for values the
//     train split never had;
//   - the label is a 'values' target when numeric with more than 20 distinct values (or when
//     asked), else 'classes' with the names sorted (numerically if numeric) → ids 0...
// Cells are trimmed of surrounding whitespace (`1, red` is common; a quoted "a, b" keeps its
// inner space). Blank lines are skipped. Every error names the file, line (header = line 1),
// column and value, and says what to do.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { DataError, kUnseen, splitTestRows, type Column, type Dataset, type Target } from './dataset.js';

const kQuote = 0x22;
const kComma = 0x2c;
const kLF = 0x0a;
const kCR = 0x0d;

/** Above this many distinct numeric labels the target is a regression ('values'). */
export const kMaxNumericClasses = 20;

/** A parsed CSV: the header and the data rows (blank lines skipped), all rows header-wide. */
export interface CsvTable {
  file: string;
  header: string[];
  rows: number;
  /** 1-based physical line on which data row r (0-based) starts; the header is line 1. */
  line(r: number): number;
  /** Data row r, column c: unquoted, "" → ", trimmed. */
  cell(r: number, c: number): string;
}

/** Int32Array that doubles as it fills, so the tokeniser needs no per-cell objects. */
class Growable {
  a = new Int32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/** A value for a message: quoted, and cut if long (a damaged file can have a 1 MB "cell"). */
/** A header for a message: at most 20 names, each cut to 40 characters. */
export function columnList(header: string[]): string {
  const names = header.slice(0, 20).map((h) => (h.length > 40 ? h.slice(0, 40) + '…' : h));
  return names.join(', ') + (header.length > 20 ? `, … (${header.length} columns)` : '');
}

export function show(v: string): string {
  return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
}

export function parseCsv(text: string, file: string): CsvTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const n = text.length;
  const starts = new Growable();
  // end of each cell; stored as ~end when the quoted cell holds doubled quotes to undo.
  const ends = new Growable();
  const lines = new Growable();
  let header: string[] | undefined;
  let width = 0;
  const colName = (k: number): string =>
    header === undefined ? `column ${k + 1} of the header` : k < width ? `column ${show(header[k])}` : `cell ${k + 1}`;

  let i = 0;
  let line = 1;
  while (i < n) {
    const c0 = text.charCodeAt(i);
    // A blank line is no record (an RFC-4180 reading would make it a one-cell row).
    if (c0 === kLF || c0 === kCR) {
      i += c0 === kCR && text.charCodeAt(i + 1) === kLF ? 2 : 1;
      line++;
      continue;
    }
    const recLine = line;
    const firstCell = starts.n;
    for (let k = 0; ; k++) {
      let s: number;
      let e: number;
      let escaped = false;
      if (text.charCodeAt(i) === kQuote) {
        const openLine = line;
        s = ++i;
        for (;;) {
          const j = text.indexOf('"', i);
          if (j < 0) {
            throw new DataError(
              `${file}:${openLine}: ${colName(k)}: a quote opens a field that never closes ` +
                `(value starts ${show(text.slice(s, s + 40))}); close the quote, or double a quote ` +
                `meant as text ("")`,
            );
          }
          for (let q = i; q < j; q++) {
            const ch = text.charCodeAt(q);
            if (ch === kLF || (ch === kCR && text.charCodeAt(q + 1) !== kLF)) line++;
          }
          if (text.charCodeAt(j + 1) === kQuote) {
            escaped = true;
            i = j + 2;
            continue;
          }
          e = j;
          i = j + 1;
          break;
        }
        const ch = text.charCodeAt(i);
        if (i < n && ch !== kComma && ch !== kLF && ch !== kCR) {
          throw new DataError(
            `${file}:${line}: ${colName(k)}: ${show(text.slice(i, i + 20))} follows the closing quote of ` +
              `${show(text.slice(s, e))}; a quoted field must end at a comma or line end — put the whole ` +
              `value inside the quotes and double any quote within it ("")`,
          );
        }
      } else {
        s = i;
        while (i < n) {
          const ch = text.charCodeAt(i);
          if (ch === kComma || ch === kLF || ch === kCR) break;
          if (ch === kQuote) {
            let end = i;
            while (end < n && ![kComma, kLF, kCR].includes(text.charCodeAt(end))) end++;
            throw new DataError(
              `${file}:${line}: ${colName(k)}: a quote inside the unquoted value ` +
                `${show(text.slice(s, end))}; quote the whole field and double the quote ` +
                `("a ""b"" c")`,
            );
          }
          i++;
        }
        e = i;
      }
      starts.push(s);
      ends.push(escaped ? ~e : e);
      if (i >= n) break;
      const ch = text.charCodeAt(i++);
      if (ch === kComma) continue;
      if (ch === kCR && text.charCodeAt(i) === kLF) i++;
      line++;
      break;
    }
    const cells = starts.n - firstCell;
    if (header === undefined) {
      header = [];
      for (let k = 0; k < cells; k++) header.push(cellText(text, starts.a[k], ends.a[k]));
      width = cells;
      checkHeader(header, file);
    } else if (cells !== width) {
      const got = Array.from({ length: cells }, (_, k) => cellText(text, starts.a[firstCell + k], ends.a[firstCell + k]));
      const what =
        cells < width
          ? `column ${show(header[cells])} onwards missing (last value ${show(got[cells - 1])})`
          : `extra value ${show(got[width])} after the last column ${show(header[width - 1])}`;
      throw new DataError(
        `${file}:${recLine}: row has ${cells} cells, the header has ${width}: ${what}; give every row one ` +
          `cell per column (empty cells as ,,) and quote values that contain commas`,
      );
    }
    lines.push(recLine);
  }
  if (header === undefined) {
    throw new DataError(`${file}:1: empty file; a CSV needs a header row of column names, then data rows`);
  }
  if (lines.n === 1) {
    throw new DataError(`${file}:1: header only (columns ${header.join(', ')}), no data rows; add the rows`);
  }
  const h = header;
  const w = width;
  const st = starts.a;
  const en = ends.a;
  const ln = lines.a;
  return {
    file,
    header: h,
    rows: lines.n - 1,
    line: (r) => ln[r + 1],
    cell: (r, c) => cellText(text, st[(r + 1) * w + c], en[(r + 1) * w + c]),
  };
}

function cellText(text: string, s: number, e: number): string {
  if (e < 0) return text.slice(s, ~e).replaceAll('""', '"').trim();
  return text.slice(s, e).trim();
}

function checkHeader(header: string[], file: string): void {
  const seen = new Map<string, number>();
  header.forEach((name, k) => {
    if (name === '') {
      throw new DataError(
        `${file}:1: column ${k + 1} has an empty name; name it, or drop it (a pandas index column: ` +
          `write with to_csv(index=False))`,
      );
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw new DataError(
        `${file}:1: column ${JSON.stringify(name)} appears twice (columns ${first + 1} and ${k + 1}); ` +
          `rename one so every column has its own name`,
      );
    }
    seen.set(name, k);
  });
}

const kNumber = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The cell as a finite number, or NaN. Stricter than Number(): '', '0x1f', 'Infinity' are not numbers. */
export function parseNumber(v: string): number {
  if (!kNumber.test(v)) return NaN;
  const x = Number(v);
  return Number.isFinite(x) ? x : NaN;
}

/** A categorical column's input name: [A-Za-z0-9_] kept, anything else '_', no leading digit. */
export function sanitizeName(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (s === '' || /^[0-9]/.test(s)) s = '_' + s;
  return s;
}

export interface CsvOptions {
  /** The target column's header name. */
  label?: string;
  /** A second CSV with the same header as the test split. */
  test?: string;
  /** The last ⌈F·n⌉ rows as the test split, F in (0, 1). */
  testSplit?: number;
  /** Force the target kind; default 'values' for a numeric label with > 20 distinct values. */
  target?: 'classes' | 'values';
}

interface Rows { table: CsvTable; start: number; end: number }

function readCsv(path: string): { table: CsvTable; sha256: string } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as Error).message}); check the path`, { cause: err });
  }
  const sha256 = createHash('sha256').update(buf).digest('hex');
  return { table: parseCsv(buf.toString('utf8'), path), sha256 };
}

export function loadCsv(trainPath: string, o: CsvOptions = {}): { train: Dataset; test: Dataset } {
  if (o.test !== undefined && o.testSplit !== undefined) {
    throw new DataError(`--test ${o.test} and --test-split ${o.testSplit}: give one, not both`);
  }
  if (o.test === undefined && o.testSplit === undefined) {
    throw new DataError(`${trainPath}: a CSV needs --test FILE or --test-split F (e.g. 0.2 for the last 20% of rows)`);
  }
  if (o.target !== undefined && o.target !== 'classes' && o.target !== 'values') {
    throw new DataError(`--target ${o.target}: must be classes or values`);
  }
  const train = readCsv(trainPath);
  const t = train.table;
  if (o.label === undefined) {
    throw new DataError(`${trainPath}: no --label; name the target column with --label COL (columns: ${columnList(t.header)})`);
  }
  const labelCol = t.header.indexOf(o.label);
  if (labelCol < 0) {
    throw new DataError(`${trainPath}:1: --label ${JSON.stringify(o.label)}: no such column; the columns are ${columnList(t.header)}`);
  }
  if (t.header.length < 2) {
    throw new DataError(`${trainPath}:1: only the label column ${JSON.stringify(o.label)}; add input columns`);
  }

  let trainRows: Rows;
  let testRows: Rows;
  let testInfo: { path: string; sha256: string };
  if (o.testSplit !== undefined) {
    // A FIXED split by row index — the last ⌈F·n⌉ rows — with no RNG, so the same file always
    // gives the same split (and a file sorted by time tests on its latest rows).
    const nTest = splitTestRows(t.rows, o.testSplit, trainPath);
    trainRows = { table: t, start: 0, end: t.rows - nTest };
    testRows = { table: t, start: t.rows - nTest, end: t.rows };
    testInfo = { path: trainPath, sha256: train.sha256 };
  } else {
    const test = readCsv(o.test!);
    const h = test.table.header;
    for (let k = 0; k < Math.max(h.length, t.header.length); k++) {
      if (h[k] !== t.header[k]) {
        throw new DataError(
          `${o.test}:1: column ${k + 1} is ${h[k] === undefined ? 'missing' : show(h[k])}, but ${trainPath} has ` +
            `${t.header[k] === undefined ? 'no such column' : show(t.header[k])}; the test file needs the ` +
            `train file's header (${columnList(t.header)})`,
        );
      }
    }
    trainRows = { table: t, start: 0, end: t.rows };
    testRows = { table: test.table, start: 0, end: test.table.rows };
    testInfo = { path: o.test!, sha256: test.sha256 };
  }

  // Type the columns on the train split only.
  const numeric: number[] = [];
  const categorical: number[] = [];
  for (let c = 0; c < t.header.length; c++) {
    if (c === labelCol) continue;
    let isNumeric = true;
    for (let r = trainRows.start; r < trainRows.end && isNumeric; r++) {
      const v = t.cell(r, c);
      if (!isMissingToken(v) && Number.isNaN(parseNumber(v))) isNumeric = false;
    }
    (isNumeric ? numeric : categorical).push(c);
  }

  // Input names: `x` for the numeric block, sanitised and de-duplicated names for the rest.
  const taken = new Set<string>(numeric.length > 0 ? ['x'] : []);
  const catNames = categorical.map((c) => {
    const base = sanitizeName(t.header[c]);
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  });
  const vocabs = categorical.map((c) => {
    const ids = new Map<string, number>();
    for (let r = trainRows.start; r < trainRows.end; r++) {
      const v = t.cell(r, c);
      if (!ids.has(v)) ids.set(v, ids.size + 1);
    }
    return ids;
  });

  const target = targetSpec(trainRows, labelCol, o.target);
  const name = basename(trainPath, extname(trainPath));
  const build = (rows: Rows, split: 'train' | 'test', info: { path: string; sha256: string }): Dataset => {
    const count = rows.end - rows.start;
    const inputs: Column[] = [];
    if (numeric.length > 0) inputs.push(numericColumn(rows, numeric, trainPath));
    categorical.forEach((c, k) => {
      const ids = vocabs[k];
      const data = new Int32Array(count);
      for (let r = rows.start; r < rows.end; r++) data[r - rows.start] = ids.get(rows.table.cell(r, c)) ?? 0;
      inputs.push({ name: catNames[k], dtype: 'i32', width: 1, data, vocab: [kUnseen, ...ids.keys()], names: [t.header[c]] });
    });
    return {
      name,
      source: { kind: 'csv', path: info.path, sha256: info.sha256, split, rows: count, label: o.label },
      count,
      inputs,
      target: target.fill(rows),
    };
  };
  return { train: build(trainRows, 'train', { path: trainPath, sha256: train.sha256 }), test: build(testRows, 'test', testInfo) };
}

/**
 * Cells that mean "no value" in the files people export (R's NA, pandas' NaN, SQL's NULL): in a
 * column that is otherwise numbers they are missing values, reported as such, not categories.
 */
const MISSING_TOKENS = new Set(['', 'NA', 'N/A', 'n/a', 'NaN', 'nan', 'null', 'NULL', '?']);
export const isMissingToken = (v: string): boolean => MISSING_TOKENS.has(v);

function missing(rows: Rows, r: number, c: number, what: string): DataError {
  const tb = rows.table;
  const v = tb.cell(r, c);
  return new DataError(
    `${tb.file}:${tb.line(r)}: column ${show(tb.header[c])}: ${v === '' ? 'empty cell' : `cell ${show(v)}`} (missing value) in ${what}; ` +
      `fill it in or drop the row`,
  );
}

function numericColumn(rows: Rows, cols: number[], trainPath: string): Column {
  const tb = rows.table;
  const w = cols.length;
  const data = new Float32Array((rows.end - rows.start) * w);
  for (let r = rows.start; r < rows.end; r++) {
    const base = (r - rows.start) * w;
    for (let k = 0; k < w; k++) {
      const c = cols[k];
      const v = tb.cell(r, c);
      if (isMissingToken(v)) throw missing(rows, r, c, 'a numeric column');
      const x = parseNumber(v);
      if (Number.isNaN(x)) {
        // Only reachable in the test split: the train split typed this column numeric.
        throw new DataError(
          `${tb.file}:${tb.line(r)}: column ${JSON.stringify(tb.header[c])}: value ${show(v)} is not a number, but ` +
            `the column is numeric in the train split (${trainPath}); fix the value, or give the train split ` +
            `a non-numeric cell to make the column categorical`,
        );
      }
      data[base + k] = x;
    }
  }
  return { name: 'x', dtype: 'f32', width: w, data, names: cols.map((c) => tb.header[c]) };
}

/** Decide the target from the train split; fill() maps any split's labels the same way. */
function targetSpec(train: Rows, c: number, want: 'classes' | 'values' | undefined): { fill(rows: Rows): Target } {
  const tb = train.table;
  const col = JSON.stringify(tb.header[c]);
  let isNumeric = true;
  let firstText = -1;
  const distinct = new Set<string>();
  const distinctNum = new Set<number>();
  for (let r = train.start; r < train.end; r++) {
    const v = tb.cell(r, c);
    if (v === '') throw missing(train, r, c, 'the label column');
    distinct.add(v);
    const x = parseNumber(v);
    if (Number.isNaN(x)) {
      if (isNumeric) firstText = r;
      isNumeric = false;
    } else distinctNum.add(x);
  }
  const values = want === 'values' || (want === undefined && isNumeric && distinctNum.size > kMaxNumericClasses);
  if (values) {
    if (!isNumeric) {
      throw new DataError(
        `${tb.file}:${tb.line(firstText)}: column ${col}: label ${show(tb.cell(firstText, c))} is not a number, so ` +
          `the label cannot be a 'values' target; fix the value or use a classes target`,
      );
    }
    return {
      fill(rows) {
        const data = new Float32Array(rows.end - rows.start);
        for (let r = rows.start; r < rows.end; r++) {
          const v = rows.table.cell(r, c);
          if (v === '') throw missing(rows, r, c, 'the label column');
          const x = parseNumber(v);
          if (Number.isNaN(x)) {
            throw new DataError(
              `${rows.table.file}:${rows.table.line(r)}: column ${col}: label ${show(v)} is not a number, but the ` +
                `target is numeric values; fix the value`,
            );
          }
          data[r - rows.start] = x;
        }
        return { kind: 'values', width: 1, data };
      },
    };
  }
  // Classes: numeric labels by value (so "1" and "1.0" are one class, 0..9 map to ids 0..9),
  // text labels by code-unit order (locale-independent, so ids never depend on the machine).
  const key = isNumeric ? (v: string): string => String(parseNumber(v)) : (v: string): string => v;
  const names = isNumeric
    ? [...distinctNum].sort((a, b) => a - b).map(String)
    : [...distinct].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length < 2) {
    throw new DataError(
      `${tb.file}: column ${col}: every train label is ${show(names[0] ?? '')}; a classifier needs at least 2 classes`,
    );
  }
  const ids = new Map(names.map((n, i) => [n, i]));
  return {
    fill(rows) {
      const data = new Int32Array(rows.end - rows.start);
      for (let r = rows.start; r < rows.end; r++) {
        const v = rows.table.cell(r, c);
        if (v === '') throw missing(rows, r, c, 'the label column');
        const id = isNumeric && Number.isNaN(parseNumber(v)) ? undefined : ids.get(key(v));
        if (id === undefined) {
          throw new DataError(
            `${rows.table.file}:${rows.table.line(r)}: column ${col}: label ${show(v)} is not one of the train ` +
              `split's ${names.length} classes (${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}); ` +
              `fix the label, or add rows of that class to the train split`,
          );
        }
        data[r - rows.start] = id;
      }
      return { kind: 'classes', classes: names.length, names, data };
    },
  };
}
