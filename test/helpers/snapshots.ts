/** Comparing config snapshots: the loader's paths (whole, sliced, piece by piece) must give the same one. */

import { expect } from "vitest";
import type { ConfigSnapshot } from "../../src/config/types.ts";

/** Everything a snapshot configures, as JSON (maps as their entries, in order); `file` left out. */
export function snapshotJson(snapshot: ConfigSnapshot): string {
  return JSON.stringify({
    limiters: [...snapshot.limiters],
    definitions: [...snapshot.definitions],
    defaults: snapshot.defaults,
    stores: [...snapshot.stores],
    lists: snapshot.lists?.source,
    overrides: snapshot.overrides,
    allowNoLimiters: snapshot.allowNoLimiters,
  });
}

/** `actual` configures the very same things as `expected`, in the same order, from the same file. */
export function expectSameSnapshot(actual: ConfigSnapshot, expected: ConfigSnapshot): void {
  expect(snapshotJson(actual)).toBe(snapshotJson(expected));
  expect(actual.file).toBe(expected.file);
}
