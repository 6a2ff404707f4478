/**
 * The client's events: `on`, `once`, `off`, `removeAllListeners` and `listenerCount`, as
 * Node's EventEmitter names them, typed by event, with no dependency on Node's types (the
 * client's declarations stand on their own). A listener's exception reaches the code that
 * emitted, as EventEmitter's does.
 */
type Listener<Args extends unknown[]> = (...args: Args) => void;
type AnyListener = (...args: unknown[]) => void;

export class TypedEvents<Events extends { [K in keyof Events]: unknown[] }> {
  /** Listeners by event; each stored as a plain function and called with its event's arguments. */
  readonly #listeners = new Map<keyof Events, AnyListener[]>();

  /** Calls `listener` on every `event`. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as unknown as AnyListener);
    this.#listeners.set(event, list);
    return this;
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper = ((...args: Events[K]) => {
      this.off(event, wrapper);
      listener(...args);
    }) as Listener<Events[K]> & { listener?: Listener<Events[K]> };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  /** Removes `listener` (one registration of it, the latest) from `event`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(event);
    if (list === undefined) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i] as AnyListener & { listener?: unknown };
      if ((entry as unknown) === listener || entry.listener === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this.#listeners.delete(event);
    return this;
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls the listeners of `event` in order; whether there were any. */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const list = this.#listeners.get(event);
    if (list === undefined) return false;
    for (const listener of [...list]) listener(...(args as unknown[]));
    return true;
  }
}
