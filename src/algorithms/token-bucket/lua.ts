/**
 * @module
 * The token bucket in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the calling
 * convention). Encodes `decide.ts` exactly; the reference-model tests compare the two.
 *
 * Stored state (the hash field under its state tag): `tat`.
 */

/** `tokenBucket(state, T, B, cost, maxWait)`: decides one call (see `LuaPieces.decide`). */
export const TOKEN_BUCKET_LUA = `
local function tokenBucket(state, T, B, cost, maxWait)
  local tat = tonumber(state)
  local tat0 = now
  if tat ~= nil and tat > now then tat0 = tat end
  local deniedRemaining = rem((B * T - (tat0 - now)) / T)
  if cost > B then
    return false, B, deniedRemaining, tat0 - now, INF, 0, nil, tat0 - now
  end
  local newTat = tat0 + cost * T
  local wait = newTat - B * T - now
  local waitMs = 0
  if wait <= EPS then
    waitMs = 0
  elseif wait <= maxWait then
    waitMs = wait
  else
    return false, B, deniedRemaining, tat0 - now, wait, 0, nil, tat0 - now
  end
  return true, B, rem((B * T - (newTat - now)) / T), newTat - now, 0, waitMs, fmt(newTat), newTat - now
end
`;
