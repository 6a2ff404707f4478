/**
 * Redis glob patterns, as KEYS and SCAN MATCH take them: `*` any run of bytes, `?` one
 * byte, `[abc]`, `[a-z]` and `[^a]` one byte of (or not of) a set, and `\x` the byte x
 * itself. Patterns and keys are bytes, as in Redis's `stringmatchlen`: a multi-byte UTF-8
 * character is several bytes to `?` and to a class.
 */

/** The longest pattern accepted, in bytes. */
export const globPatternLengthMax = 1024;

/** One element of a compiled pattern: a star, or a test that consumes exactly one byte. */
type Atom =
  | { readonly star: true }
  | {
      readonly star: false;
      readonly test: (byte: number) => boolean;
      readonly literal: number | null;
    };

/** A compiled glob pattern. */
export class Glob {
  readonly #atoms: readonly Atom[];
  /** The bytes every match starts with: lets a caller seek instead of scanning. */
  readonly prefix: Buffer;

  /** Compiles `pattern`; a string pattern means its UTF-8 bytes. */
  constructor(pattern: Uint8Array | string) {
    this.#atoms = compile(typeof pattern === 'string' ? Buffer.from(pattern, 'utf8') : pattern);
    const prefix: number[] = [];
    for (const atom of this.#atoms) {
      if (atom.star || atom.literal === null) break;
      prefix.push(atom.literal);
    }
    this.prefix = Buffer.from(prefix);
  }

  /**
   * Whether `text` matches (a string means its UTF-8 bytes). The classic two-pointer match
   * with one backtrack point: every atom but a star consumes exactly one byte, so retrying
   * from the last star is enough, and the time is at most the product of the two lengths,
   * never exponential.
   */
  matches(text: Uint8Array | string): boolean {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    const atoms = this.#atoms;
    let a = 0;
    let c = 0;
    let starAtom = -1;
    let starByte = 0;
    while (c < bytes.length) {
      const atom = atoms[a];
      if (atom !== undefined && atom.star) {
        starAtom = a++;
        starByte = c;
      } else if (atom !== undefined && atom.test(bytes[c] as number)) {
        a++;
        c++;
      } else if (starAtom >= 0) {
        a = starAtom + 1;
        c = ++starByte;
      } else {
        return false;
      }
    }
    while (a < atoms.length && (atoms[a] as Atom).star) a++;
    return a === atoms.length;
  }
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;

function literalAtom(byte: number): Atom {
  return { star: false, test: (b) => b === byte, literal: byte };
}

function compile(pattern: Uint8Array): Atom[] {
  const atoms: Atom[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as number;
    if (p === STAR) {
      if (!(atoms.at(-1)?.star ?? false)) atoms.push({ star: true });
    } else if (p === QUESTION) {
      atoms.push({ star: false, test: () => true, literal: null });
    } else if (p === BACKSLASH && i + 1 < pattern.length) {
      atoms.push(literalAtom(pattern[++i] as number));
    } else if (p === OPEN) {
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
function compileClass(pattern: Uint8Array, start: number): [Atom, number] {
  let i = start;
  const negate = pattern[i] === CARET;
  if (negate) i++;
  const inside = new Uint8Array(256);
  // As in Redis, an unterminated class runs to the end of the pattern.
  for (; i < pattern.length && pattern[i] !== CLOSE; i++) {
    let p = pattern[i] as number;
    if (p === BACKSLASH && i + 1 < pattern.length) p = pattern[++i] as number;
    if (pattern[i + 1] === DASH && i + 2 < pattern.length && pattern[i + 2] !== CLOSE) {
      const to = pattern[i + 2] as number;
      for (let b = Math.min(p, to); b <= Math.max(p, to); b++) inside[b] = 1;
      i += 2;
    } else {
      inside[p] = 1;
    }
  }
  const test = (byte: number): boolean => (inside[byte] === 1) !== negate;
  return [{ star: false, test, literal: null }, i];
}
