/**
 * @module
 * The fixed window in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the calling
 * convention). Encodes `decide.ts` exactly; the reference-model tests compare the two.
 *
 * Stored state (the hash field under its state tag): `windowStart:count`.
 */

/** `fixedWindow(state, L, W, cost)`: decides one call (see `LuaPieces.decide`). */
export const FIXED_WINDOW_LUA = `
local function fixedWindow(state, L, W, cost)
  local ws = math.floor(now / W) * W
  local count = 0
  local fresh = true
  -- The window start as text: the stored text when the state is of this window (it reads back as ws exactly),
  -- else ws formatted. Reusing the text saves a number format on every write but a window's first.
  local wsText
  if state ~= nil then
    local a, b = string.match(state, '^([^:]+):([^:]+)')
    if a ~= nil and tonumber(a) == ws then
      count = tonumber(b)
      fresh = false
      wsText = a
    end
  end
  local finish = ws + W - now
  -- resetAfter is the window's end while anything is counted in it, else 0.
  local reset = 0
  if count > 0 then reset = finish end
  if cost > L then
    return false, L, rem(L - count), reset, INF, 0, nil, finish
  end
  if count + cost <= L then
    local r = 0
    if count + cost > 0 then r = finish end
    return true, L, rem(L - count - cost), r, 0, 0, (wsText or fmt(ws)) .. ':' .. fmt(count + cost), finish, fresh
  end
  return false, L, rem(L - count), reset, finish, 0, nil, finish
end
`;

/**
 * `fixedWindowRefund(state, L, W, cost)`: `count -= cost` when counted in the current window; a negative cost (a
 * charge) counts `|cost|` more in the current window (from 0 for an empty or earlier one). Returns the new state
 * (nil to delete) and the ms it must live.
 */
export const FIXED_WINDOW_REFUND_LUA = `
-- A call counted in an earlier window is already forgotten: nothing to give back (and a charge starts at 0).
local function fixedWindowRefund(state, L, W, cost)
  local ws = math.floor(now / W) * W
  local count = 0
  if state ~= nil then
    local s = split(state, ':')
    if s[1] == ws then count = s[2] end
  end
  if count - cost > 0 then
    return fmt(ws) .. ':' .. fmt(count - cost), ws + W - now
  end
  return nil
end
`;
