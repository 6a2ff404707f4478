import { assert } from './assert.js';

/**
 * A seeded pseudo-random generator (sfc32: small, fast, and good enough for scheduling).
 * The core and the simulator draw every random choice from one of these, so that one seed
 * replays a whole run. Probabilities are integer ratios, never floats.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    // Spread the seed over the four words with splitmix32 so nearby seeds diverge at once.
    let state = (seed >>> 0) ^ Math.floor(seed / 0x1_0000_0000);
    const next = (): number => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [min, maxExclusive). */
  intBetween(min: number, maxExclusive: number): number {
    assert(
      Number.isSafeInteger(min) && Number.isSafeInteger(maxExclusive),
      'bounds must be integers',
    );
    assert(maxExclusive > min, `empty range [${min}, ${maxExclusive})`);
    const span = maxExclusive - min;
    assert(span <= 0x1_0000_0000, 'range wider than 2^32');
    return min + (this.uint32() % span);
  }

  /** True with probability numerator/denominator. */
  chance(numerator: number, denominator: number): boolean {
    assert(denominator > 0 && numerator >= 0, 'chance needs 0 <= numerator and 0 < denominator');
    return this.intBetween(0, denominator) < numerator;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty array');
    return items[this.intBetween(0, items.length)] as T;
  }
}
