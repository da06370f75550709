/**
 * @module
 * The sliding window log in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the
 * calling convention). Encodes `decide.ts` exactly; the reference-model tests compare the two.
 *
 * Stored state (the hash field under its state tag): `t0,c0,t1,c1,…` (oldest first).
 */

/** `slidingWindow(state, L, W, cost)`: decides one call (see `LuaPieces.decide`). */
export const SLIDING_WINDOW_LUA = `
-- When the newest entry of a log leaves the window (0 for an empty log).
local function newestEnd(list, W)
  if #list == 0 then return 0 end
  return list[#list - 1] + W - now
end

local function slidingWindow(state, L, W, cost)
  local all = split(state, ',')
  local entries = {}
  local used = 0
  for i = 1, #all - 1, 2 do
    if all[i] > now - W then
      entries[#entries + 1] = all[i]
      entries[#entries + 1] = all[i + 1]
      used = used + all[i + 1]
    end
  end
  if cost > L then
    local r = newestEnd(entries, W)
    return false, L, rem(L - used), r, INF, 0, nil, r
  end
  if used + cost <= L then
    local at = now
    if #entries > 0 and entries[#entries - 1] > at then at = entries[#entries - 1] end
    entries[#entries + 1] = at
    entries[#entries + 1] = cost
    local parts = {}
    for i = 1, #entries do parts[i] = fmt(entries[i]) end
    local r = newestEnd(entries, W)
    return true, L, rem(L - used - cost), r, 0, 0, table.concat(parts, ','), r
  end
  local retry = INF
  local sum = 0
  for i = 1, #entries - 1, 2 do
    sum = sum + entries[i + 1]
    if used - sum + cost <= L then
      retry = entries[i] + W - now
      break
    end
  end
  local r = newestEnd(entries, W)
  return false, L, rem(L - used), r, retry, 0, nil, r
end
`;

/**
 * `slidingWindowRefund(state, L, W, cost)`: removes the refunded call's entry; a negative cost is a charge (see
 * `refundSlidingWindow`).
 */
export const SLIDING_WINDOW_REFUND_LUA = `
-- Drops what left the window, then removes the newest entry of exactly this cost (almost always the refunded
-- call); failing that, takes the cost off the newest entries. A negative cost (a charge) counts -cost at the
-- newest entry's time when that is already >= now (added to it), else as a new entry at now; returns the ttl.
local function slidingWindowRefund(state, L, W, cost)
  local all = split(state, ',')
  local s = {}
  for j = 1, #all - 1, 2 do
    if all[j] > now - W then
      s[#s + 1] = all[j]
      s[#s + 1] = all[j + 1]
    end
  end
  if cost < 0 then
    local at = now
    if #s > 0 and s[#s - 1] >= now then
      at = s[#s - 1]
      s[#s] = s[#s] - cost
    else
      s[#s + 1] = now
      s[#s + 1] = -cost
    end
    local parts = {}
    for j = 1, #s do parts[j] = fmt(s[j]) end
    return table.concat(parts, ','), at + W - now
  end
  local match = nil
  for j = #s - 1, 1, -2 do
    if s[j + 1] == cost then
      match = j
      break
    end
  end
  if match ~= nil then
    table.remove(s, match)
    table.remove(s, match)
  else
    local left = cost
    while left > 0 and #s >= 2 do
      local c = s[#s]
      if c <= left then
        left = left - c
        s[#s] = nil
        s[#s] = nil
      else
        s[#s] = c - left
        left = 0
      end
    end
  end
  if #s == 0 then return nil end
  local parts = {}
  for j = 1, #s do parts[j] = fmt(s[j]) end
  return table.concat(parts, ',')
end
`;
