/**
 * Sorted sets' order, written once and pure: a skip list with span counts (Redis's own
 * structure, t_zset.c), ordered by score as an IEEE double and, between equal scores, by
 * member bytes, so that an insert, a removal and a rank are O(log n); scores parsed and
 * formatted as Redis 7.0 does; and the ranges (by rank, score or member) that every sorted
 * set command reads, turned into rank intervals of the list.
 *
 * Members are bytes held as latin1 strings (one character per byte), so `<` on them is
 * byte order (memcmp, a shorter prefix first), as Redis compares them.
 *
 * This file imports nothing of its siblings.
 */

/** The most levels a skip list node has (Redis's ZSKIPLIST_MAXLEVEL). */
const levelsMax = 32;

/** One element of the list; the head is a node without member. */
interface SkipNode {
  readonly member: string;
  readonly score: number;
  /** `next[i]` is the next node at level i, null at the end. */
  readonly next: (SkipNode | null)[];
  /** `spans[i]` is how many elements `next[i]` lies ahead (rank distance). */
  readonly spans: number[];
  previous: SkipNode | null;
}

/** Whether (scoreA, memberA) sorts before (scoreB, memberB). */
function before(scoreA: number, memberA: string, scoreB: number, memberB: string): boolean {
  return scoreA < scoreB || (scoreA === scoreB && memberA < memberB);
}

/**
 * The elements of one sorted set in order. Levels come from a xorshift generator of its
 * own (deterministic; the shape never shows in an answer). An element is inserted only
 * when absent and removed with the score it has: the member map beside it says which.
 */
export class ScoreList {
  readonly #head: SkipNode = {
    member: '',
    score: -Infinity,
    next: new Array<SkipNode | null>(levelsMax).fill(null),
    spans: new Array<number>(levelsMax).fill(0),
    previous: null,
  };
  #levels = 1;
  #length = 0;
  #random = 0x9e3779b9;

  /** How many elements the list holds. */
  get length(): number {
    return this.#length;
  }

  /** A level for a new node: each level up with probability 1/4, as Redis's. */
  #level(): number {
    let level = 1;
    for (;;) {
      let x = this.#random;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#random = x >>> 0;
      if ((this.#random & 3) !== 0 || level === levelsMax) return level;
      level++;
    }
  }

  /** Inserts (score, member); the member must not be in the list. */
  insert(score: number, member: string): void {
    const update: SkipNode[] = new Array<SkipNode>(levelsMax);
    const rank: number[] = new Array<number>(levelsMax).fill(0);
    let x = this.#head;
    for (let i = this.#levels - 1; i >= 0; i--) {
      rank[i] = i === this.#levels - 1 ? 0 : (rank[i + 1] as number);
      for (
        let n = x.next[i];
        n != null && before(n.score, n.member, score, member);
        n = x.next[i]
      ) {
        rank[i] = (rank[i] as number) + (x.spans[i] as number);
        x = n;
      }
      update[i] = x;
    }
    const level = this.#level();
    if (level > this.#levels) {
      for (let i = this.#levels; i < level; i++) {
        rank[i] = 0;
        update[i] = this.#head;
        this.#head.spans[i] = this.#length;
      }
      this.#levels = level;
    }
    const node: SkipNode = {
      member,
      score,
      next: new Array<SkipNode | null>(level).fill(null),
      spans: new Array<number>(level).fill(0),
      previous: null,
    };
    for (let i = 0; i < level; i++) {
      const at = update[i] as SkipNode;
      node.next[i] = at.next[i] as SkipNode | null;
      at.next[i] = node;
      // The new node lies (rank[0] - rank[i]) past `at`; its span is what remains of at's.
      node.spans[i] = (at.spans[i] as number) - ((rank[0] as number) - (rank[i] as number));
      at.spans[i] = (rank[0] as number) - (rank[i] as number) + 1;
    }
    for (let i = level; i < this.#levels; i++) {
      const at = update[i] as SkipNode;
      at.spans[i] = (at.spans[i] as number) + 1;
    }
    node.previous = update[0] === this.#head ? null : (update[0] as SkipNode);
    const after = node.next[0] as SkipNode | null;
    if (after !== null) after.previous = node;
    this.#length++;
  }

  /** Removes (score, member); answers whether it was there. */
  delete(score: number, member: string): boolean {
    const update: SkipNode[] = new Array<SkipNode>(levelsMax);
    let x = this.#head;
    for (let i = this.#levels - 1; i >= 0; i--) {
      for (
        let n = x.next[i];
        n != null && before(n.score, n.member, score, member);
        n = x.next[i]
      ) {
        x = n;
      }
      update[i] = x;
    }
    const node = x.next[0] as SkipNode | null;
    if (node === null || node.score !== score || node.member !== member) return false;
    for (let i = 0; i < this.#levels; i++) {
      const at = update[i] as SkipNode;
      if (at.next[i] === node) {
        at.spans[i] = (at.spans[i] as number) + (node.spans[i] as number) - 1;
        at.next[i] = node.next[i] as SkipNode | null;
      } else {
        at.spans[i] = (at.spans[i] as number) - 1;
      }
    }
    const after = node.next[0] as SkipNode | null;
    if (after !== null) after.previous = node.previous;
    while (this.#levels > 1 && this.#head.next[this.#levels - 1] === null) this.#levels--;
    this.#length--;
    return true;
  }

  /**
   * How many elements come first for which `isBefore` holds; `isBefore` must hold for a
   * prefix of the list and no element after it (a score or member bound).
   */
  countBefore(isBefore: (score: number, member: string) => boolean): number {
    let x = this.#head;
    let rank = 0;
    for (let i = this.#levels - 1; i >= 0; i--) {
      for (let n = x.next[i]; n != null && isBefore(n.score, n.member); n = x.next[i]) {
        rank += x.spans[i] as number;
        x = n;
      }
    }
    return rank;
  }

  /**
   * How many elements come first for which `isBefore` holds, whatever it holds after: the
   * longest such prefix, found by walking it (O(prefix)). Unlike `countBefore`, the answer
   * never depends on the list's shape, so it suits a predicate that need not hold for a
   * prefix only.
   */
  prefixLength(isBefore: (score: number, member: string) => boolean): number {
    let count = 0;
    for (
      let n = this.#head.next[0] as SkipNode | null;
      n !== null && isBefore(n.score, n.member);
      n = n.next[0] as SkipNode | null
    ) {
      count++;
    }
    return count;
  }

  /** Whether every element has the same score (true of an empty list): O(log n). */
  uniformScore(): boolean {
    if (this.#length < 2) return true;
    return this.#at(0).score === this.#at(this.#length - 1).score;
  }

  /** The 0-based rank of (score, member), which is in the list. */
  rankOf(score: number, member: string): number {
    return this.countBefore((s, m) => before(s, m, score, member));
  }

  /** The node at 0-based `rank` (0 <= rank < length). */
  #at(rank: number): SkipNode {
    let x = this.#head;
    let traversed = -1;
    for (let i = this.#levels - 1; i >= 0; i--) {
      for (let n = x.next[i]; n != null && traversed + (x.spans[i] as number) <= rank;) {
        traversed += x.spans[i] as number;
        x = n;
        n = x.next[i] as SkipNode | null;
      }
      if (traversed === rank) return x;
    }
    throw new Error(`no element at rank ${rank} of ${this.#length}`);
  }

  /**
   * The elements of ranks `from` up to (not including) `to`, as [member, score] pairs, in
   * order, or from `to - 1` down to `from` when `reverse`.
   */
  slice(from: number, to: number, reverse = false): [string, number][] {
    const out: [string, number][] = [];
    if (from >= to) return out;
    let node: SkipNode | null = this.#at(reverse ? to - 1 : from);
    for (let i = from; i < to && node !== null; i++) {
      out.push([node.member, node.score]);
      node = reverse ? node.previous : (node.next[0] as SkipNode | null);
    }
    return out;
  }

  /** Every element in order. */
  *entries(): Generator<[string, number]> {
    for (
      let n = this.#head.next[0] as SkipNode | null;
      n !== null;
      n = n.next[0] as SkipNode | null
    ) {
      yield [n.member, n.score];
    }
  }

  /**
   * A copy with the same elements and the same shape, built in one pass (O(n)): each node
   * is appended at the end of every level it has, its span the rank distance from the
   * level's previous node (`lastRank[i]` is the 1-based rank of `last[i]`, the head 0).
   */
  copy(): ScoreList {
    const list = new ScoreList();
    list.#random = this.#random;
    const last = new Array<SkipNode>(levelsMax).fill(list.#head);
    const lastRank = new Array<number>(levelsMax).fill(0);
    let previous: SkipNode | null = null;
    let rank = 0;
    for (
      let n = this.#head.next[0] as SkipNode | null;
      n !== null;
      n = n.next[0] as SkipNode | null
    ) {
      rank++;
      const level = n.next.length;
      const node: SkipNode = {
        member: n.member,
        score: n.score,
        next: new Array<SkipNode | null>(level).fill(null),
        spans: new Array<number>(level).fill(0),
        previous,
      };
      for (let i = 0; i < level; i++) {
        const at = last[i] as SkipNode;
        at.next[i] = node;
        at.spans[i] = rank - (lastRank[i] as number);
        last[i] = node;
        lastRank[i] = rank;
      }
      previous = node;
    }
    // A last node's span reaches past the end, as insert keeps it: the elements after it.
    for (let i = 0; i < levelsMax; i++) {
      (last[i] as SkipNode).spans[i] = rank - (lastRank[i] as number);
    }
    list.#levels = this.#levels;
    list.#length = rank;
    return list;
  }
}

// ------------------------------------------------------------------ scores

/** Redis's reply for a score that is not a number. */
export const notAValidFloat = 'ERR value is not a valid float';
/** ZINCRBY's (and ZADD INCR's) refusal of inf + -inf. */
export const scoreIsNan = 'ERR resulting score is not a number (NaN)';
/** A score range that does not parse. */
export const minMaxNotFloat = 'ERR min or max is not a float';
/** A member range that does not parse. */
export const minMaxNotLex = 'ERR min or max not valid string range item';

const decimalSyntax = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const infinitySyntax = /^[+-]?(?:inf|infinity)$/i;
const hexSyntax = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$/;

/** strtod's reading of the whole text (C locale), or null where it stops early or gets NaN. */
function strtod(text: string): { value: number; underflow: boolean } | null {
  if (infinitySyntax.test(text)) {
    return { value: text.startsWith('-') ? -Infinity : Infinity, underflow: false };
  }
  if (decimalSyntax.test(text)) {
    const value = Number(text);
    const mantissa = text.split(/[eE]/)[0] as string;
    return { value, underflow: value === 0 && /[1-9]/.test(mantissa) };
  }
  const hex = hexSyntax.exec(text);
  if (hex === null) return null;
  const [, sign, whole = '', fraction = '', exponent = '0'] = hex;
  if (whole === '' && fraction === '') return null;
  let value = 0;
  for (const digit of whole + fraction) value = value * 16 + parseInt(digit, 16);
  value = value * 2 ** (Number(exponent) - 4 * fraction.length);
  const signed = sign === '-' ? -value : value;
  return { value: signed, underflow: value === 0 && /[1-9a-fA-F]/.test(whole + fraction) };
}

/**
 * A score as Redis 7.0's getDoubleFromObject reads it: strtod of the whole text, no
 * leading space, not NaN, no overflow to infinity (unless written so) nor underflow to 0.
 * Null where Redis answers "value is not a valid float".
 */
export function parseScore(bytes: Uint8Array): number | null {
  const text = Buffer.from(bytes).toString('latin1');
  const read = strtod(text);
  if (read === null || read.underflow) return null;
  if (!Number.isFinite(read.value) && !infinitySyntax.test(text)) return null;
  return read.value;
}

/** One bound of a score range: its value, and whether the bound itself is excluded. */
export interface ScoreBound {
  readonly value: number;
  readonly exclusive: boolean;
}

/**
 * A bound as Redis's zslParseRange reads it: an optional '(' then strtod, which here may
 * skip leading space, take the empty text as 0 and overflow to infinity; null for what
 * strtod stops early on, or NaN.
 */
export function parseScoreBound(bytes: Uint8Array): ScoreBound | null {
  let text = Buffer.from(bytes).toString('latin1');
  const exclusive = text.startsWith('(');
  if (exclusive) text = text.slice(1);
  text = text.replace(/^[ \t\n\v\f\r]+/, '');
  if (text === '') return { value: 0, exclusive };
  const read = strtod(text);
  return read === null ? null : { value: read.value, exclusive };
}

/** One bound of a member range: -inf, +inf, or a member, included or not. */
export type LexBound =
  | { readonly kind: 'min' }
  | { readonly kind: 'max' }
  | { readonly kind: 'member'; readonly member: string; readonly exclusive: boolean };

/** A bound as Redis's zslParseLexRangeItem reads it: `-`, `+`, `(member` or `[member`. */
export function parseLexBound(bytes: Uint8Array): LexBound | null {
  const text = Buffer.from(bytes).toString('latin1');
  if (text === '+') return { kind: 'max' };
  if (text === '-') return { kind: 'min' };
  if (text.startsWith('(')) return { kind: 'member', member: text.slice(1), exclusive: true };
  if (text.startsWith('[')) return { kind: 'member', member: text.slice(1), exclusive: false };
  return null;
}

/**
 * A score as Redis 7.0's replies write it (addReplyDouble in RESP2, `%.17g`): `inf`,
 * `-inf`, else 17 significant digits without trailing zeros, an exponent (two digits at
 * least) below 1e-4 or from 1e17.
 */
export function formatScore(score: number): string {
  if (score === Infinity) return 'inf';
  if (score === -Infinity) return '-inf';
  if (Number.isNaN(score)) return 'nan';
  if (score === 0) return Object.is(score, -0) ? '-0' : '0';
  const [digits, exponentText] = score.toExponential(16).split('e') as [string, string];
  const exponent = Number(exponentText);
  const negative = digits.startsWith('-');
  const significant = digits.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent < -4 || exponent >= 17) {
    const mantissa = `${significant[0]}.${significant.slice(1)}`.replace(/\.?0+$/, '');
    const power = Math.abs(exponent) < 10 ? `0${Math.abs(exponent)}` : String(Math.abs(exponent));
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${power}`;
  }
  let text: string;
  if (exponent >= 0) {
    text = `${significant.slice(0, exponent + 1)}.${significant.slice(exponent + 1)}`;
  } else {
    text = `0.${'0'.repeat(-exponent - 1)}${significant}`;
  }
  return sign + text.replace(/\.?0+$/, '');
}

// ------------------------------------------------------------------ ranges

/** What a range command selects: ranks, a score interval or a member interval. */
export type ZsetRange =
  | { readonly by: 'rank'; readonly start: number; readonly stop: number }
  | { readonly by: 'score'; readonly min: ScoreBound; readonly max: ScoreBound }
  | { readonly by: 'lex'; readonly min: LexBound; readonly max: LexBound };

/** A range with its direction and ZRANGE's LIMIT (offset, count; a negative count: all). */
export interface ZsetSelection {
  readonly range: ZsetRange;
  readonly reverse?: boolean;
  readonly limit?: { readonly offset: number; readonly count: number };
}

/** Whether a member is below a lex minimum (so lies before the range). */
function belowLex(member: string, min: LexBound): boolean {
  if (min.kind === 'min') return false;
  if (min.kind === 'max') return true;
  return min.exclusive ? member <= min.member : member < min.member;
}

/** Whether a member is within a lex maximum. */
function withinLex(member: string, max: LexBound): boolean {
  if (max.kind === 'max') return true;
  if (max.kind === 'min') return false;
  return max.exclusive ? member < max.member : member <= max.member;
}

/**
 * The ranks [from, to) that `range` covers in `list` (ranks from the bottom), as Redis
 * reads them: a rank range normalised (negative from the end, clamped); a score or member
 * range is where its bounds fall. For a reverse rank range, ranks count from the top.
 */
export function rankInterval(list: ScoreList, range: ZsetRange, reverse = false): [number, number] {
  switch (range.by) {
    case 'rank':
      return rankSpan(list.length, range.start, range.stop, reverse);
    case 'score': {
      const { min, max } = range;
      const from = list.countBefore((s) => (min.exclusive ? s <= min.value : s < min.value));
      const to = list.countBefore((s) => (max.exclusive ? s < max.value : s <= max.value));
      return from < to ? [from, to] : [0, 0];
    }
    case 'lex': {
      // Member bounds hold for a prefix only when every score is equal (the only sets
      // Redis defines member ranges on). On others Redis's answer depends on its skip
      // list's random shape; here it is the longest prefix below the minimum and the
      // longest within the maximum, the same on every replica whatever its list's shape.
      const { min, max } = range;
      const count = list.uniformScore()
        ? (isBefore: (score: number, member: string) => boolean) => list.countBefore(isBefore)
        : (isBefore: (score: number, member: string) => boolean) => list.prefixLength(isBefore);
      const from = count((_, m) => belowLex(m, min));
      const to = count((_, m) => withinLex(m, max));
      return from < to ? [from, to] : [0, 0];
    }
  }
}

/**
 * The ranks [from, to) (from the bottom) that ranks `start` to `stop` cover in a sorted set
 * of `length` elements, as Redis reads them: negative from the end, clamped; for a reverse
 * range, `start` and `stop` count from the top.
 */
export function rankSpan(
  length: number,
  start: number,
  stop: number,
  reverse = false,
): [number, number] {
  let from = start < 0 ? length + start : start;
  let last = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (from > last || from >= length) return [0, 0];
  if (last >= length) last = length - 1;
  return reverse ? [length - 1 - last, length - from] : [from, last + 1];
}

/** The elements `selection` picks from `list`, in its direction, as [member, score]. */
export function selectRange(list: ScoreList, selection: ZsetSelection): [string, number][] {
  const reverse = selection.reverse === true;
  let [from, to] = rankInterval(list, selection.range, reverse);
  const limit = selection.limit;
  if (limit !== undefined && selection.range.by !== 'rank') {
    if (limit.offset < 0) return [];
    const available = Math.max(0, to - from - limit.offset);
    const count = limit.count < 0 ? available : Math.min(limit.count, available);
    if (reverse) {
      to -= limit.offset;
      from = to - count;
    } else {
      from += limit.offset;
      to = from + count;
    }
    if (count <= 0) return [];
  }
  return list.slice(from, to, reverse);
}

/** How many elements `range` covers (ZCOUNT, ZLEXCOUNT). */
export function countRange(list: ScoreList, range: ZsetRange): number {
  const [from, to] = rankInterval(list, range);
  return to - from;
}

/** How ZUNION and ZINTER combine the scores of one member. */
export type Aggregate = 'sum' | 'min' | 'max';

/** Redis's zunionInterAggregate: a sum that is NaN (inf + -inf) is 0. */
export function aggregateScores(a: number, b: number, aggregate: Aggregate): number {
  if (aggregate === 'min') return b < a ? b : a;
  if (aggregate === 'max') return b > a ? b : a;
  const sum = a + b;
  return Number.isNaN(sum) ? 0 : sum;
}

/** One source of a set operation: its elements (member to score) and weight. */
export interface SetOperand {
  readonly members: ReadonlyMap<string, number> | null;
  readonly weight: number;
}

/**
 * ZUNION, ZINTER and ZDIFF as Redis 7.0 computes them (zunionInterDiffGenericCommand):
 * union and intersection take the sources smallest first (stable), each score times its
 * weight (NaN is 0), combined by `aggregate`; a difference keeps the first source's
 * members that no other holds. Answers member to score, unordered.
 */
export function combineSets(
  operation: 'union' | 'inter' | 'diff',
  operands: readonly SetOperand[],
  aggregate: Aggregate,
): Map<string, number> {
  const result = new Map<string, number>();
  const size = (operand: SetOperand): number => operand.members?.size ?? 0;
  const weighted = (score: number, weight: number): number => {
    const value = score * weight;
    return Number.isNaN(value) ? 0 : value;
  };
  if (operation === 'diff') {
    const [first, ...rest] = operands as [SetOperand, ...SetOperand[]];
    for (const [member, score] of first.members ?? []) {
      if (!rest.some((other) => other.members?.has(member) === true)) result.set(member, score);
    }
    return result;
  }
  const sorted = [...operands].sort((a, b) => size(a) - size(b));
  if (operation === 'union') {
    for (const { members, weight } of sorted) {
      for (const [member, score] of members ?? []) {
        const value = weighted(score, weight);
        const old = result.get(member);
        result.set(member, old === undefined ? value : aggregateScores(old, value, aggregate));
      }
    }
    return result;
  }
  const [smallest, ...others] = sorted as [SetOperand, ...SetOperand[]];
  if (size(smallest) === 0) return result;
  for (const [member, score] of smallest.members ?? []) {
    let value = weighted(score, smallest.weight);
    let everywhere = true;
    for (const other of others) {
      const found = other.members?.get(member);
      if (found === undefined) {
        everywhere = false;
        break;
      }
      value = aggregateScores(value, found * other.weight, aggregate);
    }
    if (everywhere) result.set(member, value);
  }
  return result;
}

/** Elements sorted as a sorted set holds them: by score, then member bytes. */
export function sortedEntries(members: ReadonlyMap<string, number>): [string, number][] {
  return [...members].sort(([ma, sa], [mb, sb]) =>
    sa < sb ? -1 : sa > sb ? 1 : ma < mb ? -1 : ma > mb ? 1 : 0,
  );
}
