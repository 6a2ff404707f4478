/**
 * Redis glob patterns, as KEYS and SCAN MATCH take them: `*` any run of characters, `?` one
 * character, `[abc]`, `[a-z]` and `[^a]` one character of (or not of) a set, and `\x` the
 * character x itself. Characters are Unicode code points.
 */

/** The longest pattern accepted, in characters. */
export const globPatternLengthMax = 1024;

/** One element of a compiled pattern: a star, or a test that consumes exactly one character. */
type Atom =
  | { readonly star: true }
  | {
      readonly star: false;
      readonly test: (c: string) => boolean;
      readonly literal: string | null;
    };

/** A compiled glob pattern. */
export class Glob {
  readonly #atoms: readonly Atom[];
  /** The characters every match starts with: lets a caller seek instead of scanning. */
  readonly prefix: string;

  constructor(pattern: string) {
    this.#atoms = compile([...pattern]);
    let prefix = '';
    for (const atom of this.#atoms) {
      if (atom.star || atom.literal === null) break;
      prefix += atom.literal;
    }
    this.prefix = prefix;
  }

  /**
   * Whether `text` matches. The classic two-pointer match with one backtrack point: every
   * atom but a star consumes exactly one character, so retrying from the last star is
   * enough, and the time is at most the product of the two lengths, never exponential.
   */
  matches(text: string): boolean {
    const chars = [...text];
    const atoms = this.#atoms;
    let a = 0;
    let c = 0;
    let starAtom = -1;
    let starChar = 0;
    while (c < chars.length) {
      const atom = atoms[a];
      if (atom !== undefined && atom.star) {
        starAtom = a++;
        starChar = c;
      } else if (atom !== undefined && atom.test(chars[c] as string)) {
        a++;
        c++;
      } else if (starAtom >= 0) {
        a = starAtom + 1;
        c = ++starChar;
      } else {
        return false;
      }
    }
    while (a < atoms.length && (atoms[a] as Atom).star) a++;
    return a === atoms.length;
  }
}

function literalAtom(char: string): Atom {
  return { star: false, test: (c) => c === char, literal: char };
}

function compile(pattern: readonly string[]): Atom[] {
  const atoms: Atom[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    if (p === '*') {
      if (!(atoms.at(-1)?.star ?? false)) atoms.push({ star: true });
    } else if (p === '?') {
      atoms.push({ star: false, test: () => true, literal: null });
    } else if (p === '\\' && i + 1 < pattern.length) {
      atoms.push(literalAtom(pattern[++i] as string));
    } else if (p === '[') {
      const [atom, end] = compileClass(pattern, i + 1);
      atoms.push(atom);
      i = end;
    } else {
      atoms.push(literalAtom(p));
    }
  }
  return atoms;
}

/** Compiles a class starting after its `[`; returns the atom and the index of its `]`. */
function compileClass(pattern: readonly string[], start: number): [Atom, number] {
  let i = start;
  const negate = pattern[i] === '^';
  if (negate) i++;
  const singles = new Set<string>();
  const ranges: [number, number][] = [];
  // As in Redis, an unterminated class runs to the end of the pattern.
  for (; i < pattern.length && pattern[i] !== ']'; i++) {
    let p = pattern[i] as string;
    if (p === '\\' && i + 1 < pattern.length) p = pattern[++i] as string;
    if (pattern[i + 1] === '-' && i + 2 < pattern.length && pattern[i + 2] !== ']') {
      const from = p.codePointAt(0) as number;
      const to = (pattern[i + 2] as string).codePointAt(0) as number;
      ranges.push(from <= to ? [from, to] : [to, from]);
      i += 2;
    } else {
      singles.add(p);
    }
  }
  const test = (c: string): boolean => {
    const code = c.codePointAt(0) as number;
    const inside = singles.has(c) || ranges.some(([from, to]) => code >= from && code <= to);
    return inside !== negate;
  };
  return [{ star: false, test, literal: null }, i];
}
