/**
 * @module
 * The leaky bucket in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the calling
 * convention). Encodes `decide.ts` exactly; the reference-model tests compare the two.
 *
 * Stored state (the hash field under its state tag): `tat`.
 */

/** `leakyBucket(state, T, B, cost, maxWait)`: decides one call (see `LuaPieces.decide`). */
export const LEAKY_BUCKET_LUA = `
local function leakyBucket(state, T, B, cost, maxWait)
  local tat = tonumber(state)
  local slot = now
  if tat ~= nil and tat > now then slot = tat end
  local wait = slot - now
  local queued = wait / T
  local deniedRemaining = rem(B - wait / T)
  if cost > B then
    return false, B, deniedRemaining, wait, INF, 0, nil, wait
  end
  if queued + cost > B + EPS / T then
    local retry = (queued + cost - B) * T
    if wait > maxWait then retry = wait end
    return false, B, deniedRemaining, wait, retry, 0, nil, wait
  end
  local waitMs = 0
  if wait <= EPS then
    waitMs = 0
  elseif wait <= maxWait then
    waitMs = wait
  else
    return false, B, deniedRemaining, wait, wait, 0, nil, wait
  end
  local after = slot + cost * T - now
  return true, B, rem(B - after / T), after, 0, waitMs, fmt(slot + cost * T), after
end
`;
