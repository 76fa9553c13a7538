/**
 * A selector's labelPattern: "/regex/flags", or else a substring. Substrings compare after NFKC
 * normalisation and lower-casing, so 「第１回」 finds 「第1回」 and "quiz" finds "Quiz 1".
 */

export type LabelPattern = { ok: true; matches: (label: string) => boolean } | { ok: false; message: string };

// g and y make RegExp.test stateful; d and v add nothing to a yes/no match.
const ALLOWED_FLAGS = new Set(['i', 'm', 's', 'u']);

export function normaliseLabel(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

export function parseLabelPattern(pattern: string): LabelPattern {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (!literal) {
    const needle = normaliseLabel(pattern);
    return { ok: true, matches: (label) => normaliseLabel(label).includes(needle) };
  }
  const [, source = '', flags = ''] = literal;
  const badFlag = [...flags].find((f) => !ALLOWED_FLAGS.has(f));
  if (badFlag !== undefined) return { ok: false, message: `regular expression flag "${badFlag}" is not allowed (use i, m, s or u)` };
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (error) {
    return { ok: false, message: `invalid regular expression: ${(error as Error).message}` };
  }
  if (hasNestedRepetition(source)) {
    return { ok: false, message: 'a repeated group that itself repeats, such as (a+)+, can take exponential time; simplify the regular expression' };
  }
  return { ok: true, matches: (label) => regex.test(label) };
}

/**
 * Finds a repeated group containing a repetition, the usual shape of catastrophic backtracking.
 * Patterns are written by course staff but run on the shared server, so the worst is refused.
 */
function hasNestedRepetition(source: string): boolean {
  const groups: boolean[] = [false];
  const markRepeated = (): void => {
    groups[groups.length - 1] = true;
  };
  // *, + and {n,} / {n,m} with m > 1 repeat; ? and {n} do not.
  const repeatsAt = (i: number): boolean => {
    const c = source[i];
    if (c === '*' || c === '+') return true;
    const braces = /^\{\d+(,(\d*))?\}/.exec(source.slice(i));
    return braces?.[1] !== undefined && (braces[2] === '' || Number(braces[2]) > 1);
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      for (i++; i < source.length && source[i] !== ']'; i++) if (source[i] === '\\') i++;
    } else if (c === '(') {
      groups.push(false);
    } else if (c === ')' && groups.length > 1) {
      const innerRepeats = groups.pop()!;
      if (innerRepeats && repeatsAt(i + 1)) return true;
      if (innerRepeats) markRepeated();
    } else if (repeatsAt(i)) {
      markRepeated();
    }
  }
  return false;
}
