import { assert } from '../core/assert.js';
import type { Entry, SnapshotMeta } from '../core/types.js';

/** A command of the simulated workload: append `value` to the list at `key`. */
export interface SimCommand {
  readonly key: string;
  readonly value: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Decoded commands by their bytes: entries travel by reference, so each decodes once. */
const decoded = new WeakMap<Uint8Array, SimCommand>();

/** Encodes a command as an entry payload. */
export function encodeCommand(command: SimCommand): Uint8Array {
  const data = encoder.encode(JSON.stringify(command));
  decoded.set(data, command);
  return data;
}

/** Decodes an entry payload. */
export function decodeCommand(data: Uint8Array): SimCommand {
  let command = decoded.get(data);
  if (command === undefined) {
    command = JSON.parse(decoder.decode(data)) as SimCommand;
    decoded.set(data, command);
  }
  return command;
}

/**
 * The simulated state machine: keys hold lists of appended values, so a read shows the
 * whole order of writes to a key and the checker can compare histories, not just values.
 * Applying records the applied index with the data, as a real store does in one
 * transaction.
 */
export class ListStore {
  applied = 0;
  #lists = new Map<string, string[]>();

  /** Applies committed entries in order. */
  apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.applied + 1, `apply ${entry.index} after ${this.applied}`);
      if (entry.kind === 'command' && entry.data !== undefined) {
        const { key, value } = decodeCommand(entry.data);
        const list = this.#lists.get(key);
        if (list === undefined) this.#lists.set(key, [value]);
        else list.push(value);
      }
      this.applied = entry.index;
    }
  }

  /** The list at `key` (a copy). */
  read(key: string): string[] {
    return [...(this.#lists.get(key) ?? [])];
  }

  /** Whether the list at `key` holds `value` (no copy). */
  contains(key: string, value: string): boolean {
    return this.#lists.get(key)?.includes(value) ?? false;
  }

  /** A canonical image of the state, for snapshots and convergence checks. */
  image(): string {
    const keys = [...this.#lists.keys()].sort();
    return JSON.stringify(keys.map((key) => [key, this.#lists.get(key)]));
  }

  /** The snapshot bytes of the current state; the caller names its meta. */
  snapshot(): Uint8Array {
    return encoder.encode(
      JSON.stringify({ applied: this.applied, lists: JSON.parse(this.image()) }),
    );
  }

  /** Replaces all state with a snapshot's. */
  restore(meta: SnapshotMeta, data: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(data)) as {
      applied: number;
      lists: [string, string[]][];
    };
    assert(
      parsed.applied === meta.index,
      `snapshot data at ${parsed.applied} under meta ${meta.index}`,
    );
    this.#lists = new Map(parsed.lists);
    this.applied = meta.index;
  }
}

/** The snapshot of the empty state, at index 0. */
export function emptySnapshotData(): Uint8Array {
  return new ListStore().snapshot();
}
