/**
 * @module
 * The sliding window counter in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the
 * calling convention). Encodes `decide.ts` exactly; the reference-model tests compare the two.
 *
 * Stored state (the hash field under its state tag): `windowStart:current:previous`.
 */

/** `slidingCounter(state, L, W, cost)`: decides one call (see `LuaPieces.decide`). */
export const SLIDING_COUNTER_LUA = `
-- resetAfter of a sliding counter: until the current count has faded (two windows), else the previous one.
local function counterReset(c, prev, ws, W)
  if c > 0 then return ws + 2 * W - now end
  if prev > 0 then return ws + W - now end
  return 0
end

local function slidingCounter(state, L, W, cost)
  local ws = math.floor(now / W) * W
  local cur, prev = 0, 0
  local fresh = true
  -- As in fixedWindow: a state of this window keeps its start and previous count as stored text.
  local wsText, prevText
  if state ~= nil then
    local a, b, c = string.match(state, '^([^:]+):([^:]+):([^:]+)')
    local start = a and tonumber(a)
    if start == ws then
      cur, prev = tonumber(b), tonumber(c)
      fresh = false
      wsText, prevText = a, c
    elseif start == ws - W then
      cur, prev = 0, tonumber(b)
    end
  end
  local elapsed = now - ws
  local weighted = prev * (1 - elapsed / W) + cur
  if cost > L then
    local r = counterReset(cur, prev, ws, W)
    return false, L, rem(L - weighted), r, INF, 0, nil, r
  end
  if cur + cost <= L and weighted + cost <= L + EPS then
    local r = counterReset(cur + cost, prev, ws, W)
    return true, L, rem(L - (weighted + cost)), r, 0, 0,
      (wsText or fmt(ws)) .. ':' .. fmt(cur + cost) .. ':' .. (prevText or fmt(prev)), r, fresh
  end
  local retry
  if cur + cost > L then
    -- Not before the next window, where cur becomes the previous count and must fade until cost fits:
    -- cur * (1 - e/W) + cost <= L (cur > L - cost >= 0 here).
    retry = ws + W + W * (1 - (L - cost) / cur) - now
  else
    retry = (ws + W * (1 - (L - cur - cost) / prev)) - now
  end
  local r = counterReset(cur, prev, ws, W)
  return false, L, rem(L - weighted), r, retry, 0, nil, r
end
`;

/**
 * `slidingCounterRefund(state, L, W, cost)`: `current -= cost` when counted in the current window; a negative
 * cost (a charge) counts `|cost|` more in the current window, rolled forward from an earlier one (its count
 * becoming the previous one). Returns the new state and, for a charge, the ms it must live.
 */
export const SLIDING_COUNTER_REFUND_LUA = `
-- Counted in an earlier window: that count is now the previous one and stays.
local function slidingCounterRefund(state, L, W, cost)
  local ws = math.floor(now / W) * W
  if cost < 0 then
    local cur, prev = 0, 0
    if state ~= nil then
      local s = split(state, ':')
      if s[1] == ws then
        cur, prev = s[2], s[3]
      elseif s[1] == ws - W then
        prev = s[2]
      end
    end
    -- The current count is above 0, so the state lives until it has faded (two windows from ws).
    return fmt(ws) .. ':' .. fmt(cur - cost) .. ':' .. fmt(prev), ws + 2 * W - now
  end
  local s = split(state, ':')
  if s[1] == ws then
    return fmt(s[1]) .. ':' .. fmt(math.max(0, s[2] - cost)) .. ':' .. fmt(s[3])
  end
  return state
end
`;
