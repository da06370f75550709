/**
 * @module
 * The one list of rate algorithms. Everything that differs between algorithms is read from here: the
 * `Algorithm` and `RateParams` types, the names the config accepts, the state tag, the denial fingerprint, the
 * two numbers sent to Redis and PostgreSQL, the Lua of the Redis scripts, the SQL of the PostgreSQL functions,
 * and which algorithms accept fractional costs.
 *
 * Adding an algorithm:
 * 1. Make a folder `src/algorithms/<name>/` like `fixed-window/`: `decide.ts` (its pure `decide` and `refund`;
 *    peek is derived, see `peekOf`), `lua.ts` (the same math as a Lua function, and its refund), `sql.ts` (the
 *    same math as SQL steps or a PL/pgSQL block, and its refund), and `index.ts` exporting one
 *    `defineAlgorithm({...})` ({@link AlgorithmSpec} says what each field means).
 * 2. Add it to {@link ALGORITHMS} below, under its name.
 * No other source file: the config schema, the stores and the scripts pick it up, and the compiler points at
 * any `Record<Algorithm, …>` that needs an entry. The reference-model tests cover every registered algorithm
 * once they list it among their params. Outside `src/`: regenerate the JSON Schema (`npx tsx
 * scripts/write-schema.ts`), and the tests whose expected messages list every algorithm name (a misspelt
 * `algorithm` is answered with the full list) change with it.
 */

import { adaptive, adaptiveTag } from "./adaptive/index.ts";
import { concurrency } from "./concurrency/index.ts";
import { fixedWindow } from "./fixed-window/index.ts";
import { leakyBucket } from "./leaky-bucket/index.ts";
import { slidingWindow } from "./sliding-window/index.ts";
import { slidingWindowCounter } from "./sliding-window-counter/index.ts";
import type { AlgorithmSpec } from "./spec.ts";
import { tokenBucket } from "./token-bucket/index.ts";
import type { Algorithm, Family, LimitParams, RateParams } from "./types.ts";

/** Any registry entry, with its types widened (what code that handles every algorithm sees). */
// biome-ignore lint/suspicious/noExplicitAny: the state type differs per entry; each entry only meets its own.
export type AnyAlgorithmSpec = AlgorithmSpec<string, Family, string, string, any>;

/** Checks at compile time that every entry is listed under its own name. */
function registry<const T extends { readonly [K in keyof T]: AnyAlgorithmSpec & { readonly name: K } }>(
  entries: T,
): T {
  return entries;
}

/**
 * The rate algorithms, by name, in the order the config lists them. Each value is the algorithm's one spec
 * (see the module comment to add one).
 */
export const ALGORITHMS = registry({
  token_bucket: tokenBucket,
  fixed_window: fixedWindow,
  sliding_window: slidingWindow,
  sliding_window_counter: slidingWindowCounter,
  leaky_bucket: leakyBucket,
  adaptive,
});

/** The concurrency limit's entry (a `LimitParams` kind, not an `Algorithm`). */
export const CONCURRENCY = concurrency;

/** Every registered algorithm, in registry order. */
export const ALGORITHM_SPECS: readonly AnyAlgorithmSpec[] = Object.values(ALGORITHMS);

/** The spec of a rate algorithm. */
export function specOf(kind: Algorithm): AnyAlgorithmSpec {
  return ALGORITHMS[kind];
}

/** A name the config accepts in `algorithm`: an algorithm's name or one of its aliases. */
export type AlgorithmName = {
  [K in Algorithm]: K | (typeof ALGORITHMS)[K]["aliases"][number];
}[Algorithm];

/** Every name the config accepts in `algorithm`, each algorithm followed by its aliases. */
export const ALGORITHM_NAMES: readonly AlgorithmName[] = ALGORITHM_SPECS.flatMap((spec) => [
  spec.name as AlgorithmName,
  ...(spec.aliases as readonly AlgorithmName[]),
]);

/** The algorithm of a limiter that names none. */
export const DEFAULT_ALGORITHM: Algorithm = "token_bucket";

const byName = new Map<string, Algorithm>(
  ALGORITHM_SPECS.flatMap((spec) =>
    [spec.name, ...spec.aliases].map((name) => [name, spec.name as Algorithm]),
  ),
);

/** The algorithm a config name stands for (an alias resolves to its algorithm). */
export function resolveAlgorithm(name: AlgorithmName): Algorithm {
  return byName.get(name) ?? DEFAULT_ALGORITHM;
}

/** The config names (with aliases when `withAliases`) of the algorithms of one family, in registry order. */
export function namesOfFamily(family: Family, withAliases: boolean): AlgorithmName[] {
  return ALGORITHM_SPECS.filter((spec) => spec.family === family).flatMap(
    (spec) => (withAliases ? [spec.name, ...spec.aliases] : [spec.name]) as AlgorithmName[],
  );
}

/**
 * The tag that separates states of different shapes under one key: the algorithm's code, plus the window for a
 * window algorithm. Bucket states stay meaningful across rate changes (GCRA's timestamp), so their tag has no
 * rate in it; changing a limit keeps a window's usage, changing the window starts fresh. The adaptive tag adds
 * its tuning too (see `adaptiveTag`: that is how the tuning reaches the Lua and SQL).
 */
export function stateTag(params: LimitParams): string {
  if (params.kind === "concurrency") return CONCURRENCY.code;
  if (params.kind === "adaptive") {
    // The tuning fields after the first `:` are read by the Lua and SQL encodings: a part goes in the first.
    const tag = adaptiveTag(params);
    return params.part === undefined ? tag : tag.replace(":", `.${params.part}:`);
  }
  const spec = ALGORITHMS[params.kind];
  const tag = "windowMs" in params ? `${spec.code}${params.windowMs}` : spec.code;
  // The second and later limits of `limits = [...]` each keep their own state, even with the same algorithm.
  return params.part === undefined ? tag : `${tag}.${params.part}`;
}

/** The short code of a kind (the Redis scripts' kind code). */
export function kindCode(params: LimitParams): string {
  return params.kind === "concurrency" ? CONCURRENCY.code : ALGORITHMS[params.kind].code;
}

/**
 * The two numbers that, with the kind, are a member's parameters in Redis (`p1, p2`) and PostgreSQL
 * (`a, b`): `(intervalMs, burst)` for buckets, `(limit, windowMs)` for windows, `(maxConcurrent, leaseMs)` for
 * concurrency.
 */
export function paramPair(params: LimitParams): readonly [number, number] {
  if (params.kind === "concurrency") return [params.maxConcurrent, params.leaseMs];
  return "burst" in params ? [params.intervalMs, params.burst] : [params.limit, params.windowMs];
}

/**
 * A fingerprint of everything that changes what a denial means: the kind plus its capacity and rate or window.
 * A reload that raises a limit therefore never hits a denial cached under the old limit.
 *
 * @example fingerprint({ kind: "fixed_window", limit: 10, windowMs: 1000 }) // "fixed_window/1000/10"
 */
export function fingerprint(params: LimitParams): string {
  if (params.kind === "concurrency") return `${params.kind}/${params.maxConcurrent}/${params.leaseMs}`;
  // The adaptive tag holds its window and tuning; the limit is beside it.
  const print =
    params.kind === "adaptive"
      ? `${params.kind}/${adaptiveTag(params)}/${params.limit}`
      : "burst" in params
        ? `${params.kind}/${params.intervalMs}/${params.burst}`
        : `${params.kind}/${params.windowMs}/${params.limit}`;
  return params.part === undefined ? print : `${print}.${params.part}`;
}

/** Whether a call of this rate algorithm may cost a fraction of a unit. */
export function allowsFractionalCost(params: RateParams): boolean {
  return ALGORITHMS[params.kind].fractionalCost;
}
