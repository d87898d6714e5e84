// A progress line for long work: redrawn in place on a terminal, a line every 10 % otherwise
// (logs and CI stay readable). The redrawn line is cut to the terminal's width (80 columns when it
// does not say): a line that wraps cannot be redrawn in place and floods the screen.

/** `text` cut to `columns` characters (code points), with … when cut. */
export function fitColumns(text: string, columns: number): string {
  const chars = [...text];
  return chars.length <= columns ? text : chars.slice(0, Math.max(0, columns - 1)).join('') + '…';
}

/** Where progress goes: a terminal or file stream, or anything with write. */
export interface LogStream { write(text: string): unknown; isTTY?: boolean; columns?: number }

export class Progress {
  private lastDecile = -1;
  private readonly tty: boolean;
  constructor(private readonly label: string, private readonly total: number, private readonly stream: LogStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, info: string): void {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    if (this.tty) {
      const width = 24, filled = Math.round(frac * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const line = fitColumns(`${this.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${info}`, (this.stream.columns || 80) - 1);
      this.stream.write(`\r${line}\x1b[K`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`${this.label} ${(frac * 100).toFixed(0).padStart(3)}% ${info}\n`);
    }
  }

  done(info: string): void {
    if (this.tty) this.stream.write(`\r${this.label} ${'█'.repeat(24)} 100% ${info}\x1b[K\n`);
    else this.stream.write(`${this.label} done: ${info}\n`);
  }
}
