// showValue: a user's value as it goes into an error message. JSON text (what the user wrote, for
// values that came from JSON), bounded in length and depth and never throwing: a message about a
// bad value must not itself fail on it. JSON.stringify recurses once per nesting level, so a value
// nested ~10 000 deep (a few kB of `[[[[…`, which JSON.parse accepts) overflowed the stack inside
// the error formatter; here recursion stops at MAX_DEPTH and output stops at the length limit.
// For small plain values the text is exactly JSON.stringify's, so existing messages are unchanged.

const MAX_DEPTH = 12;

/**
 * `value` as JSON text of at most `maxLength` characters (longer text is cut and ends in "...").
 * Nesting deeper than 12 levels shows as [...] or {...}, a cycle as "[Circular]", and a value
 * JSON has no text for (undefined, a function) as "undefined".
 */
export function showValue(value: unknown, maxLength = 80): string {
  const limit = Math.max(4, maxLength);
  const parts: string[] = [];
  let length = 0;
  const full = (): boolean => length > limit;
  const put = (s: string): void => { parts.push(s); length += s.length; };
  const ancestors = new Set<object>();

  const write = (v: unknown, depth: number, inArray: boolean): void => {
    if (full()) return;
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      try { v = (v as { toJSON: () => unknown }).toJSON(); } catch { put('"(unprintable)"'); return; }
    }
    switch (typeof v) {
      case 'string': put(JSON.stringify(v.length > limit ? v.slice(0, limit + 1) : v)); return;
      case 'number': put(Number.isFinite(v) ? String(v) : 'null'); return;
      case 'boolean': put(String(v)); return;
      case 'bigint': put(String(v)); return;
      case 'undefined': case 'function': case 'symbol': put(inArray ? 'null' : 'undefined'); return;
    }
    if (v === null) { put('null'); return; }
    const o = v as object;
    const isArray = Array.isArray(o);
    if (ancestors.has(o)) { put('"[Circular]"'); return; }
    if (depth >= MAX_DEPTH) { put(isArray ? '[...]' : '{...}'); return; }
    ancestors.add(o);
    try {
      if (isArray) {
        put('[');
        const a = o as unknown[];
        for (let i = 0; i < a.length && !full(); i++) {
          if (i > 0) put(',');
          write(a[i], depth + 1, true);
        }
        put(']');
      } else {
        put('{');
        let first = true;
        for (const key of Object.keys(o)) {
          if (full()) break;
          const x = (o as Record<string, unknown>)[key];
          if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify
          if (!first) put(',');
          first = false;
          put(JSON.stringify(key.length > limit ? key.slice(0, limit + 1) : key) + ':');
          write(x, depth + 1, false);
        }
        put('}');
      }
    } finally {
      ancestors.delete(o);
    }
  };

  try {
    write(value, 0, false);
  } catch {
    return '(unprintable value)'; // a throwing getter or proxy: nothing JSON.parse makes
  }
  const text = parts.join('');
  return text.length > limit ? text.slice(0, limit - 3) + '...' : text;
}
