/**
 * @module
 * A tiny typed event emitter. Unlike Node's EventEmitter it has no special `error` event (an unheard
 * `storeError` must never crash the process) and a throwing listener never breaks a decision. An event
 * emitted with no listener goes to the optional `unheard` callback (how an instance writes a notice for a
 * failure nobody listens to).
 */

/** Listener of one event. */
export type Listener<T> = (payload: T) => void;

/** Typed emitter over an event map `{ name: payload }`. */
export class TypedEmitter<Events extends object> {
  /** Listeners by event name; an absent entry means nobody listens (checked on hot paths). */
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  readonly #unheard: (<K extends keyof Events>(event: K, payload: Events[K]) => void) | undefined;

  /** @param unheard Called instead of the listeners when an event is emitted and nobody listens to it. */
  constructor(unheard?: <K extends keyof Events>(event: K, payload: Events[K]) => void) {
    this.#unheard = unheard;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Removes a listener. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    set.delete(listener as Listener<never>);
    if (set.size === 0) this.#listeners.delete(event);
  }

  /** Adds a listener called once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** True when somebody listens: lets callers skip building a payload nobody reads. */
  hasListeners(event: keyof Events): boolean {
    return this.#listeners.has(event);
  }

  /** Calls every listener; a listener that throws is reported as a process warning, never to the emitter. */
  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set) {
      this.#unheard?.(event, payload);
      return;
    }
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        // Surface the bug in the listener without breaking the decision that emitted the event, and without
        // crashing the process as a rethrow would.
        process.emitWarning(error instanceof Error ? error : new Error(String(error)), {
          code: "RATE_SYNC_LISTENER_ERROR",
          detail: `A listener of the "${String(event)}" event threw`,
        });
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}
