import { assert } from '../core/assert.js';

/**
 * The frames waiting to go to one peer, bounded in frames and in bytes. A frame that does
 * not fit is refused rather than making room by dropping older ones: the caller learns
 * at once that the peer is not keeping up, and the frames already queued keep their order.
 */
export class SendQueue {
  readonly #framesMax: number;
  readonly #bytesMax: number;
  #frames: Buffer[] = [];
  #bytes = 0;

  constructor(framesMax: number, bytesMax: number) {
    assert(Number.isSafeInteger(framesMax) && framesMax > 0, `bad framesMax ${framesMax}`);
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, `bad bytesMax ${bytesMax}`);
    this.#framesMax = framesMax;
    this.#bytesMax = bytesMax;
  }

  /** Frames waiting. */
  get frames(): number {
    return this.#frames.length;
  }

  /** Bytes waiting, frame headers included. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queues `frame`; false, leaving the queue as it was, when it would exceed a limit. */
  push(frame: Buffer): boolean {
    if (this.#frames.length + 1 > this.#framesMax) return false;
    if (this.#bytes + frame.length > this.#bytesMax) return false;
    this.#frames.push(frame);
    this.#bytes += frame.length;
    return true;
  }

  /** Removes and returns every waiting frame, oldest first. */
  takeAll(): Buffer[] {
    const frames = this.#frames;
    this.#frames = [];
    this.#bytes = 0;
    return frames;
  }
}
