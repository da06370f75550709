/**
 * @module
 * A manual clock for tests: time moves only when the test says so, so every expected millisecond is exact.
 */

/**
 * A point in time aligned to every window the tests use (a multiple of one day since the epoch), so a test that
 * starts here starts at the beginning of a fixed window.
 */
export const FAKE_EPOCH_MS = 1_699_920_000_000;

/**
 * A clock that stands still until advanced. Pass `clock.now` where a store or function takes a clock.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const store = new MemoryStore({ now: clock.now });
 * clock.advance(1000);
 * ```
 */
export class FakeClock {
  #nowMs: number;

  /** @param startMs Where the clock starts. @default {@link FAKE_EPOCH_MS} */
  constructor(startMs: number = FAKE_EPOCH_MS) {
    this.#nowMs = startMs;
  }

  /** The current time in epoch ms. Bound, so it can be passed around as a function. */
  readonly now = (): number => this.#nowMs;

  /** Moves the clock forward (or back, for clock-step tests, with a negative `ms`). */
  advance(ms: number): void {
    this.#nowMs += ms;
  }

  /** Sets the clock to an absolute time. */
  set(ms: number): void {
    this.#nowMs = ms;
  }
}
