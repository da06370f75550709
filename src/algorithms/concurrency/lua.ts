/**
 * @module
 * The concurrency limit in Lua, for the Redis scripts: leases live in a sorted set (member = lease id, score =
 * expiry). Encodes `leases.ts`; the reference-model tests compare the two.
 */

/**
 * `liveLeases(key)` (count, min expiry, max expiry, counting the leases this script is about to add, from
 * `pendingLeases`) and `concurrency(key, o)` (decides one acquire, as a `result` table). Uses the general
 * scripts' `pendingLeases` and `result`.
 */
export const CONCURRENCY_LUA = `
-- Live leases of a key: expired ones are removed here (they no longer constrain), plus the ones this script
-- is about to add. Returns count, min expiry, max expiry.
local function liveLeases(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
  local count = redis.call('ZCARD', key)
  local minExp, maxExp = nil, nil
  if count > 0 then
    minExp = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    maxExp = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
  end
  local extra = pendingLeases[key]
  if extra ~= nil then
    for _, exp in ipairs(extra) do
      count = count + 1
      if minExp == nil or exp < minExp then minExp = exp end
      if maxExp == nil or exp > maxExp then maxExp = exp end
    end
  end
  return count, minExp, maxExp
end

local function concurrency(key, o)
  local N, leaseMs = o.p1, o.p2
  local count, minExp, maxExp = liveLeases(key)
  if count + 1 <= N then
    local exp = now + leaseMs
    if maxExp == nil or exp > maxExp then maxExp = exp end
    return result(true, N, rem(N - count - 1), maxExp - now, 0, 0, fmt(exp), maxExp - now)
  end
  local r = 0
  if maxExp ~= nil then r = maxExp - now end
  return result(false, N, 0, r, minExp - now, 0, nil, r)
end
`;
