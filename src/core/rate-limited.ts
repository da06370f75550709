/**
 * @module
 * `rateLimited`: rate limiting around a function. Two forms, one implementation:
 * - `rateLimited(key, fn, options?)` wraps an async function;
 * - `@rateLimited(key, options?)` decorates a method that returns a promise, both as a standard (TC39)
 *   decorator (TypeScript 5 without `experimentalDecorators`) and as a legacy one (`experimentalDecorators:
 *   true`, as NestJS and TypeORM projects compile). It tells the two apart by its arguments: a standard
 *   decorator receives `(method, context)` with `context.kind`, a legacy one `(prototype, name, descriptor)`.
 * The decorated method is the wrapper of the first form around the original method, `this` passed through.
 */

import { InvalidArgumentError, RateLimitExceededError } from "../errors.ts";
import { fillTemplate } from "../limiters/templates.ts";
import { getRateSync } from "./default-instance.ts";
import { type KeyInput, type RateSync, settleAfterWork } from "./rate-sync.ts";
import type { AcquireOptions } from "./types.ts";

/**
 * Options of {@link rateLimited}. `Result` is what the wrapped function resolves to (unknown to a decorator
 * until its method is seen, so `actualCost` there reads its result untyped).
 */
export interface RateLimitedOptions<This = unknown, Result = never> extends AcquireOptions {
  /**
   * `"wait"` waits for the limit (`acquire`); `"try"` rejects at once with `RateLimitExceededError` when denied.
   * @default "wait"
   */
  readonly mode?: "wait" | "try";
  /**
   * The instance to use, or a function of `this` that returns it (a decorated method on a service that holds its
   * own instance: `rateSync: (service) => service.rs`).
   * @default the module's default instance
   */
  readonly rateSync?: RateSync | ((self: This) => RateSync | Promise<RateSync>);
  /**
   * The units a call's work really used, read from its result (e.g. `(r) => r.usage.total_tokens`): after the
   * work, what `cost` over-counted is refunded and what it under-counted charged, in both modes, as `rs.run`'s
   * `actualCost` does (a failed refund or charge is a `storeError` event; the result is still returned).
   */
  readonly actualCost?: (result: Result) => number;
}

/** The names of a template's `<name>` placeholders: `"a:<x>:<y>"` → `"x" | "y"`. */
export type TemplatePlaceholders<K extends string> = K extends `${string}<${infer Name}>${infer Rest}`
  ? Name | TemplatePlaceholders<Rest>
  : never;

/**
 * The leading arguments a method must take for a key (it may take more): a template with placeholders needs a
 * first argument with those properties; a fixed key (or a key whose text the compiler does not know) needs none.
 */
export type ArgumentsFor<K extends string> = [TemplatePlaceholders<K>] extends [never]
  ? []
  : [{ readonly [P in TemplatePlaceholders<K>]: unknown }];

/** A key function of a decorated method: its arguments, with `this` the instance the method was called on. */
export type MethodKeyFunction<This, Args extends unknown[]> = (this: This, ...args: Args) => KeyInput;

/**
 * What `@rateLimited(key, options?)` returns: a decorator of methods that return a promise and whose leading
 * arguments are `Lead` (what the template or the key function reads; more may follow), as a standard decorator
 * and as a legacy (`experimentalDecorators`) one. Applied to anything else, it does not compile.
 */
export interface RateLimitedDecorator<Lead extends unknown[]> {
  /** Standard (TC39) method decorator. */
  <This, A extends [...Lead, ...unknown[]], R>(
    method: (this: This, ...args: A) => Promise<R>,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => Promise<R>>,
  ): (this: This, ...args: A) => Promise<R>;
  /** Legacy (`experimentalDecorators: true`) method decorator. */
  <T extends (...args: never[]) => Promise<unknown>>(
    prototype: object,
    name: Parameters<T> extends [...Lead, ...unknown[]] ? string | symbol : never,
    descriptor: TypedPropertyDescriptor<T>,
  ): TypedPropertyDescriptor<T>;
}

/**
 * Wraps an async function so every call is rate limited. The key is a fixed key, a template whose `<name>`
 * placeholders are filled from the first argument's properties, or a function of the arguments (called with
 * the wrapper's `this`). The wrapper passes its `this` on to `fn`.
 *
 * @example
 * ```ts
 * const fetchUser = rateLimited("api:<userId>", async ({ userId }: { userId: string }) => load(userId));
 * await fetchUser({ userId: "42" }); // limited by the key "api:42"
 * ```
 */
export function rateLimited<Args extends unknown[], R>(
  keyOrTemplate: string | ((...args: Args) => KeyInput),
  fn: (...args: Args) => R | Promise<R>,
  options?: RateLimitedOptions<unknown, Awaited<R>>,
): (...args: Args) => Promise<Awaited<R>>;
/**
 * Decorates a method that returns a promise so every call is rate limited, as `rateLimited(key, fn)` would
 * wrap it: a fixed key, a template whose `<name>` placeholders are filled from the first argument's properties
 * (checked by the compiler), or a key function of the arguments with `this` the instance. Works as a standard
 * decorator and under `experimentalDecorators: true`.
 *
 * @example
 * ```ts
 * class Users {
 *   @rateLimited("api:<userId>", { mode: "try" })
 *   async fetch({ userId }: { userId: string }) { return load(userId); }
 * }
 * ```
 */
export function rateLimited<const K extends string>(
  keyOrTemplate: K,
  // `never`: the class is not known yet, so `rateSync: (self: Service) => self.rs` is accepted for any class.
  options?: RateLimitedOptions<never>,
): RateLimitedDecorator<ArgumentsFor<K>>;
export function rateLimited<This, Args extends unknown[]>(
  keyFunction: MethodKeyFunction<This, Args>,
  options?: RateLimitedOptions<This>,
): RateLimitedDecorator<Args>;
export function rateLimited(
  keyOrTemplate: string | MethodKeyFunction<unknown, unknown[]>,
  fnOrOptions?: ((...args: unknown[]) => unknown) | RateLimitedOptions<never>,
  options?: RateLimitedOptions,
): unknown {
  if (typeof fnOrOptions === "function") return wrap(keyOrTemplate, fnOrOptions, options ?? {});
  if (options !== undefined) {
    throw new InvalidArgumentError(
      "rateLimited(key, options): a decorator takes the key and its options only; to wrap a function, pass it second",
    );
  }
  return decorator(keyOrTemplate, (fnOrOptions ?? {}) as RateLimitedOptions);
}

/** The one implementation: the wrapped function that limits every call of `fn`. */
function wrap(
  keyOrTemplate: string | MethodKeyFunction<unknown, unknown[]>,
  fn: (...args: unknown[]) => unknown,
  options: RateLimitedOptions,
): (this: unknown, ...args: unknown[]) => Promise<unknown> {
  if (typeof keyOrTemplate !== "string" && typeof keyOrTemplate !== "function") {
    throw new InvalidArgumentError(
      `rateLimited: the key must be a string, a template or a function, got ${keyOrTemplate === null ? "null" : typeof keyOrTemplate}`,
    );
  }
  const { mode = "wait", rateSync, actualCost: readCost, ...acquireOptions } = options;
  // The wrapper does not know its function's result type; the overloads check `actualCost` against it.
  const actualCost = readCost as ((result: unknown) => number) | undefined;
  if (mode !== "wait" && mode !== "try") {
    throw new InvalidArgumentError(`rateLimited: mode must be "wait" or "try", got ${JSON.stringify(mode)}`);
  }
  const keyOf = (self: unknown, args: unknown[]): KeyInput => {
    if (typeof keyOrTemplate === "function") return keyOrTemplate.apply(self, args);
    if (!keyOrTemplate.includes("<")) return keyOrTemplate;
    const key = fillTemplate(keyOrTemplate, args[0]);
    if (key === undefined) {
      throw new InvalidArgumentError(
        `rateLimited("${keyOrTemplate}"): the first argument must have a value for every placeholder`,
      );
    }
    return key;
  };
  const instanceFor = (self: unknown): RateSync | Promise<RateSync> =>
    rateSync === undefined ? getRateSync() : typeof rateSync === "function" ? rateSync(self) : rateSync;
  return async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const rs = await instanceFor(this);
    const key = keyOf(this, args);
    if (mode === "wait") {
      const runOptions = actualCost === undefined ? acquireOptions : { ...acquireOptions, actualCost };
      return rs.run(key, () => fn.apply(this, args), runOptions);
    }
    // With `actualCost` the cost is named (1 by default), so the decision carries its `settle`.
    const cost = acquireOptions.cost ?? (actualCost === undefined ? undefined : 1);
    const decision = await rs.tryAcquire(key, cost === undefined ? {} : { cost });
    if (!decision.allowed) {
      throw new RateLimitExceededError(decision.key, decision.limiter, decision.retryAfterMs, decision);
    }
    let result: unknown;
    try {
      result = await fn.apply(this, args);
    } finally {
      await decision.lease?.release();
    }
    if (actualCost !== undefined) await rs[settleAfterWork](decision, actualCost(result));
    return result;
  };
}

/** The decorator of `@rateLimited(key, options)`, either flavour (see the module comment). */
function decorator(
  keyOrTemplate: string | MethodKeyFunction<unknown, unknown[]>,
  options: RateLimitedOptions,
): (...args: unknown[]) => unknown {
  // Checked now, at class definition: a wrong mode fails where it is written, not at the first call.
  wrap(keyOrTemplate, async () => {}, options);
  const shown = typeof keyOrTemplate === "string" ? JSON.stringify(keyOrTemplate) : "<key function>";
  return (target: unknown, contextOrName: unknown, descriptor?: unknown): unknown => {
    if (isStandardContext(contextOrName)) {
      if (contextOrName.kind !== "method" || typeof target !== "function") {
        throw new InvalidArgumentError(
          `@rateLimited(${shown}) applies to methods, not to the ${contextOrName.kind} ${String(contextOrName.name)}`,
        );
      }
      return wrap(keyOrTemplate, target as (...args: unknown[]) => unknown, options);
    }
    const method = (descriptor as PropertyDescriptor | undefined)?.value;
    if (typeof method !== "function") {
      throw new InvalidArgumentError(
        `@rateLimited(${shown}) applies to methods, not to ${String(contextOrName)} (no method value)`,
      );
    }
    const legacy = descriptor as PropertyDescriptor;
    legacy.value = wrap(keyOrTemplate, method as (...args: unknown[]) => unknown, options);
    return legacy;
  };
}

/** True for the context object of a standard decorator (`{ kind, name, … }`); a legacy one gets a name. */
function isStandardContext(value: unknown): value is { readonly kind: string; readonly name: unknown } {
  return (
    typeof value === "object" && value !== null && typeof (value as { kind?: unknown }).kind === "string"
  );
}
