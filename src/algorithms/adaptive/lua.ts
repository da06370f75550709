/**
 * @module
 * The adaptive hybrid in Lua, for the Redis scripts (see `src/stores/redis/lua.ts` for the helpers and the calling
 * convention). Encodes `decide.ts` exactly, operation for operation; the reference-model tests compare the two.
 * Its tuning arrives in the state tag (`ad<window>:<adaptive_window>:<multiplier>:<high>:<low>:<penalty>`, see
 * `adaptiveTag`), which every script passes as the 6th argument.
 *
 * Stored state (the hash field under its state tag): `tat:windowStart:used:load`.
 */

/**
 * What the decide and the refund share: the power by squaring, the tuning read from the tag, and
 * `adaptiveCurrent(state, W, A, forget)` → `max(tat, now)`, the window, its units and its load as of now (the
 * ended window folded in, idle windows decayed: `currentOf` in `decide.ts`). No script includes both sources.
 */
const ADAPTIVE_STATE_LUA = `
local function adaptivePow(base, n)
  local result, b, e = 1, base, n
  while e > 0 do
    if e % 2 == 1 then result = result * b end
    b = b * b
    e = math.floor(e / 2)
  end
  return result
end

local function adaptiveTuning(tag)
  local A, M, hi, lo, pen = string.match(tag, '^[^:]+:([^:]+):([^:]+):([^:]+):([^:]+):([^:]+)$')
  return tonumber(A), tonumber(M), tonumber(hi), tonumber(lo), tonumber(pen)
end

local function adaptiveCurrent(state, W, A, forget)
  local ws = math.floor(now / W) * W
  local used, ld = 0, 0
  local tat0 = now
  if state ~= nil then
    local a, b, c, d = string.match(state, '^([^:]+):([^:]+):([^:]+):([^:]+)$')
    local tat, s0, u0, l0 = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    if tat > now then tat0 = tat end
    if s0 >= ws then
      ws, used, ld = s0, u0, l0
    else
      local windows = math.floor((ws - s0) / W + 0.5)
      if windows <= forget then
        local w = math.min(1, W / A)
        local keep = 1 - w
        ld = (keep * l0 + w * u0) * adaptivePow(keep, windows - 1)
      end
    end
  end
  return tat0, ws, used, ld
end
`;

/** `adaptive(state, L, W, cost, maxWait, tag)`: decides one call (see `LuaPieces.decide`). */
export const ADAPTIVE_LUA = `${ADAPTIVE_STATE_LUA}

local function adaptive(state, L, W, cost, maxWait, tag)
  local A, M, hi, lo, pen = adaptiveTuning(tag)
  local T = W / L
  local forget = math.ceil(10 * A / W)
  local tat0, ws, used, ld = adaptiveCurrent(state, W, A, forget)
  local load = ld / L
  local top = M * L
  local bottom = math.max(L, top * (1 - pen))
  local capReal
  if load <= lo then capReal = top
  elseif load >= hi then capReal = bottom
  else capReal = top - (top - bottom) * (load - lo) / (hi - lo) end
  local cap = math.floor(capReal + EPS)
  local windowEnd = ws + W - now
  local busy = tat0 - now
  local deniedReset = busy
  if used > 0 and windowEnd > deniedReset then deniedReset = windowEnd end
  local deniedRemaining = rem(math.min((cap * T - busy) / T, cap - used))
  if cost > cap then
    local retry = windowEnd
    if cost > math.floor(M * L + EPS) then retry = INF end
    return false, cap, deniedRemaining, deniedReset, retry, 0, nil, deniedReset
  end
  local newTat = tat0 + cost * T
  local bucketWait = newTat - cap * T - now
  local fits = used + cost <= cap
  if bucketWait <= EPS and fits then
    local ahead = newTat - now
    local reset = math.max(ahead, windowEnd)
    local ttl = math.max(newTat, ws + (forget + 1) * W) - now
    return true, cap, rem(math.min((cap * T - ahead) / T, cap - used - cost)), reset, 0, 0,
      fmt(newTat) .. ':' .. fmt(ws) .. ':' .. fmt(used + cost) .. ':' .. fmt(ld), ttl
  end
  local retry = bucketWait
  if not fits then retry = math.max(bucketWait, windowEnd) else retry = math.max(bucketWait, 0) end
  return false, cap, deniedRemaining, deniedReset, retry, 0, nil, deniedReset
end
`;

/**
 * `adaptiveRefund(state, L, W, cost, tag)`: `tat -= cost × T` (not below now), and `used -= cost` in its window.
 * A negative cost (a charge): `tat = max(tat, now) - cost × T`, and `-cost` more used in the current window
 * (rolled forward first); returns the ttl too (see `refundAdaptive`).
 */
export const ADAPTIVE_REFUND_LUA = `${ADAPTIVE_STATE_LUA}
local function adaptiveRefund(state, L, W, cost, tag)
  if cost < 0 then
    local A = adaptiveTuning(tag)
    local forget = math.ceil(10 * A / W)
    local tat0, ws, used, ld = adaptiveCurrent(state, W, A, forget)
    local tat = tat0 - cost * (W / L)
    return fmt(tat) .. ':' .. fmt(ws) .. ':' .. fmt(used - cost) .. ':' .. fmt(ld),
      math.max(tat, ws + (forget + 1) * W) - now
  end
  local s = split(state, ':')
  local tat = math.max(now, s[1] - cost * (W / L))
  local used = s[3]
  if s[2] == math.floor(now / W) * W then used = math.max(0, used - cost) end
  return fmt(tat) .. ':' .. fmt(s[2]) .. ':' .. fmt(used) .. ':' .. fmt(s[4])
end
`;
