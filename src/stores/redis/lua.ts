/**
 * @module
 * The Lua scripts of the Redis store: one per kind of call (decide, peek, refund, renew). Each reads the
 * clock with `TIME` inside the script, so every decision uses the store's clock, and each does all its reads
 * and writes in one atomic call. They encode `src/algorithms/` exactly (see the math reference there); the
 * tests compare them with those pure functions.
 *
 * Wire format (built by `codec.ts`):
 * - `KEYS[i]` is the state key of op `i`: a hash (field = state tag) for rate ops, a sorted set of leases
 *   (member = lease id, score = expiry) for concurrency ops.
 * - `ARGV[1]` = maxWaitMs, `ARGV[2]` = number of ops, then 6 values per op:
 *   kind code, state tag, p1, p2, cost, lease id — where (p1, p2) is (intervalMs, burst) for buckets,
 *   (limit, windowMs) for windows and (maxConcurrent, leaseMs) for concurrency.
 * - Numbers go back as strings (`%.17g`, `inf`): a Lua number returned as-is would be truncated to an integer.
 *
 * Stored state (hash field values, numbers as `%.17g` so they round-trip exactly):
 * - `tb` / `lb`: `tat`
 * - `fw<W>`: `windowStart:count`
 * - `sw<W>`: `t0,c0,t1,c1,…` (oldest first)
 * - `sc<W>`: `windowStart:current:previous`
 */

/** Code of each kind in ARGV (short: it is sent on every call). */
export const KIND_CODES = {
  token_bucket: "tb",
  leaky_bucket: "lb",
  fixed_window: "fw",
  sliding_window: "sw",
  sliding_window_counter: "sc",
  concurrency: "cc",
} as const;

/** Values per op in ARGV. */
export const OP_STRIDE = 6;

/** Helpers and the math, shared by every script. Defines `decideOp(key, o, maxWait, overlay)` and `peekOp`. */
const PRELUDE = `
local EPS = 0.001
local INF = math.huge
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local function fmt(x)
  if x == INF then return 'inf' end
  -- Whole numbers (counts, limits, zero waits) print exactly with %d, which is much cheaper than %.17g.
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  return string.format('%.17g', x)
end

local function rem(x)
  local r = math.floor(x + EPS)
  if r < 0 then return 0 end
  return r
end

local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  for part in string.gmatch(s, '[^' .. sep .. ']+') do out[#out + 1] = tonumber(part) end
  return out
end

local function readOp(base)
  return {
    kind = ARGV[base],
    tag = ARGV[base + 1],
    p1 = tonumber(ARGV[base + 2]),
    p2 = tonumber(ARGV[base + 3]),
    cost = tonumber(ARGV[base + 4]),
    lease = ARGV[base + 5],
  }
end

-- Pending writes of this script, so two ops of one batch on the same state see each other (all-or-nothing
-- means nothing is written until every op is allowed).
local pending = {}
local pendingLeases = {}

local function readField(key, tag)
  local p = pending[key .. '\\0' .. tag]
  if p ~= nil then return p end
  local v = redis.call('HGET', key, tag)
  if v == false then return nil end
  return v
end

-- A decision is { allowed, limit, remaining, resetAfter, retryAfter, wait, newState (string or nil), ttl }.
local function result(allowed, limit, remaining, resetAfter, retryAfter, wait, newState, ttl)
  return { allowed = allowed, limit = limit, remaining = remaining, resetAfter = resetAfter,
           retryAfter = retryAfter, wait = wait, newState = newState, ttl = ttl }
end

local function tokenBucket(state, o, maxWait)
  local T, B, cost = o.p1, o.p2, o.cost
  local tat = tonumber(state)
  local tat0 = now
  if tat ~= nil and tat > now then tat0 = tat end
  local deniedRemaining = rem((B * T - (tat0 - now)) / T)
  if cost > B then
    return result(false, B, deniedRemaining, tat0 - now, INF, 0, nil, tat0 - now)
  end
  local newTat = tat0 + cost * T
  local wait = newTat - B * T - now
  local waitMs = 0
  if wait <= EPS then
    waitMs = 0
  elseif wait <= maxWait then
    waitMs = wait
  else
    return result(false, B, deniedRemaining, tat0 - now, wait, 0, nil, tat0 - now)
  end
  return result(true, B, rem((B * T - (newTat - now)) / T), newTat - now, 0, waitMs, fmt(newTat), newTat - now)
end

local function leakyBucket(state, o, maxWait)
  local T, B, cost = o.p1, o.p2, o.cost
  local tat = tonumber(state)
  local slot = now
  if tat ~= nil and tat > now then slot = tat end
  local wait = slot - now
  local queued = wait / T
  local deniedRemaining = rem(B - wait / T)
  if cost > B then
    return result(false, B, deniedRemaining, wait, INF, 0, nil, wait)
  end
  if queued + cost > B + EPS / T then
    local retry = (queued + cost - B) * T
    if wait > maxWait then retry = wait end
    return result(false, B, deniedRemaining, wait, retry, 0, nil, wait)
  end
  local waitMs = 0
  if wait <= EPS then
    waitMs = 0
  elseif wait <= maxWait then
    waitMs = wait
  else
    return result(false, B, deniedRemaining, wait, wait, 0, nil, wait)
  end
  local after = slot + cost * T - now
  return result(true, B, rem(B - after / T), after, 0, waitMs, fmt(slot + cost * T), after)
end

local function fixedWindow(state, o)
  local L, W, cost = o.p1, o.p2, o.cost
  local ws = math.floor(now / W) * W
  local s = split(state, ':')
  local count = 0
  if s[1] ~= nil and s[1] == ws then count = s[2] end
  local finish = ws + W - now
  local function resetFor(c) if c > 0 then return finish end return 0 end
  if cost > L then
    return result(false, L, rem(L - count), resetFor(count), INF, 0, nil, finish)
  end
  if count + cost <= L then
    return result(true, L, rem(L - count - cost), resetFor(count + cost), 0, 0,
      fmt(ws) .. ':' .. fmt(count + cost), finish)
  end
  return result(false, L, rem(L - count), resetFor(count), finish, 0, nil, finish)
end

local function slidingWindow(state, o)
  local L, W, cost = o.p1, o.p2, o.cost
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
  local function resetOf(list)
    if #list == 0 then return 0 end
    return list[#list - 1] + W - now
  end
  if cost > L then
    local r = resetOf(entries)
    return result(false, L, rem(L - used), r, INF, 0, nil, r)
  end
  if used + cost <= L then
    local at = now
    if #entries > 0 and entries[#entries - 1] > at then at = entries[#entries - 1] end
    entries[#entries + 1] = at
    entries[#entries + 1] = cost
    local parts = {}
    for i = 1, #entries do parts[i] = fmt(entries[i]) end
    local r = resetOf(entries)
    return result(true, L, rem(L - used - cost), r, 0, 0, table.concat(parts, ','), r)
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
  local r = resetOf(entries)
  return result(false, L, rem(L - used), r, retry, 0, nil, r)
end

local function slidingCounter(state, o)
  local L, W, cost = o.p1, o.p2, o.cost
  local ws = math.floor(now / W) * W
  local s = split(state, ':')
  local cur, prev = 0, 0
  if s[1] ~= nil then
    if s[1] == ws then
      cur, prev = s[2], s[3]
    elseif s[1] == ws - W then
      cur, prev = 0, s[2]
    end
  end
  local elapsed = now - ws
  local weighted = prev * (1 - elapsed / W) + cur
  local function resetFor(c)
    if c > 0 then return ws + 2 * W - now end
    if prev > 0 then return ws + W - now end
    return 0
  end
  if cost > L then
    local r = resetFor(cur)
    return result(false, L, rem(L - weighted), r, INF, 0, nil, r)
  end
  if cur + cost <= L and weighted + cost <= L + EPS then
    local r = resetFor(cur + cost)
    return result(true, L, rem(L - (weighted + cost)), r, 0, 0,
      fmt(ws) .. ':' .. fmt(cur + cost) .. ':' .. fmt(prev), r)
  end
  local retry
  if cur + cost > L then
    -- Not before the next window, where cur becomes the previous count and must fade until cost fits:
    -- cur * (1 - e/W) + cost <= L (cur > L - cost >= 0 here).
    retry = ws + W + W * (1 - (L - cost) / cur) - now
  else
    retry = (ws + W * (1 - (L - cur - cost) / prev)) - now
  end
  local r = resetFor(cur)
  return result(false, L, rem(L - weighted), r, retry, 0, nil, r)
end

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

local function decideOp(key, o, maxWait)
  if o.kind == 'cc' then return concurrency(key, o) end
  local state = readField(key, o.tag)
  if o.kind == 'tb' then return tokenBucket(state, o, maxWait) end
  if o.kind == 'lb' then return leakyBucket(state, o, maxWait) end
  if o.kind == 'fw' then return fixedWindow(state, o) end
  if o.kind == 'sw' then return slidingWindow(state, o) end
  if o.kind == 'sc' then return slidingCounter(state, o) end
  error('unknown kind ' .. tostring(o.kind))
end

-- Extends a key's TTL to at least ttl ms (never shortens it: another state tag in the same hash may need longer,
-- and state kept a little longer than needed is harmless because the math ignores what no longer constrains).
local function extendTtl(key, ttl)
  local ms = math.ceil(ttl)
  if ms < 1 then ms = 1 end
  local current = redis.call('PTTL', key)
  if current < ms then redis.call('PEXPIRE', key, ms) end
end

local function encode(d)
  local allowed = 0
  if d.allowed then allowed = 1 end
  return { allowed, fmt(d.limit), fmt(d.remaining), fmt(d.resetAfter), fmt(d.retryAfter), fmt(d.wait) }
end
`;

/**
 * Decides every op; applies all of them only when all are allowed. Returns
 * `[nowMs, allAllowed, (allowed, limit, remaining, resetAfterMs, retryAfterMs, waitMs) per op]`.
 */
export const DECIDE_SCRIPT = `${PRELUDE}
local maxWait = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local decisions = {}
local all = true
for i = 1, n do
  local o = readOp(3 + (i - 1) * ${OP_STRIDE})
  local key = KEYS[i]
  local d = decideOp(key, o, maxWait)
  decisions[i] = { o = o, d = d }
  if d.allowed then
    if o.kind == 'cc' then
      local list = pendingLeases[key] or {}
      list[#list + 1] = tonumber(d.newState)
      pendingLeases[key] = list
    else
      pending[key .. '\\0' .. o.tag] = d.newState
    end
  else
    all = false
  end
end
if all then
  for i = 1, n do
    local key, o, d = KEYS[i], decisions[i].o, decisions[i].d
    if o.kind == 'cc' then
      redis.call('ZADD', key, d.newState, o.lease)
    else
      redis.call('HSET', key, o.tag, d.newState)
    end
    extendTtl(key, d.ttl)
  end
end
local out = { fmt(now), all and 1 or 0 }
for i = 1, n do
  local e = encode(decisions[i].d)
  for j = 1, #e do out[#out + 1] = e[j] end
end
return out
`;

/**
 * Reports each op as of now without consuming anything: `[nowMs, 0, (allowed, limit, remaining, resetAfterMs,
 * retryAfterMs, waitMs) per op]`, where `allowed`/`retryAfterMs` say whether the op would pass now, and
 * `remaining`/`resetAfterMs` describe the current state before it.
 */
export const PEEK_SCRIPT = `${PRELUDE}
local n = tonumber(ARGV[2])
local out = { fmt(now), 0 }
for i = 1, n do
  local o = readOp(3 + (i - 1) * ${OP_STRIDE})
  local key = KEYS[i]
  local d = decideOp(key, o, 0)
  local remaining, resetAfter
  if o.kind == 'cc' then
    local count, _, maxExp = liveLeases(key)
    remaining = rem(o.p1 - count)
    resetAfter = 0
    if maxExp ~= nil then resetAfter = maxExp - now end
  else
    -- A zero-cost look: the denied branch of each algorithm reports the state as it stands.
    local probe = { kind = o.kind, tag = o.tag, p1 = o.p1, p2 = o.p2, cost = INF, lease = o.lease }
    local s = decideOp(key, probe, 0)
    remaining, resetAfter = s.remaining, s.resetAfter
  end
  local allowed = 0
  if d.allowed then allowed = 1 end
  local e = { allowed, fmt(d.limit), fmt(remaining), fmt(resetAfter), fmt(d.retryAfter), fmt(d.wait) }
  for j = 1, #e do out[#out + 1] = e[j] end
end
return out
`;

/**
 * Gives back what allowed ops consumed, as well as each algorithm can: buckets move their `tat` back, windows
 * lower the current count (the newest log entries for the exact log), concurrency removes the lease.
 * Returns the store time.
 */
export const REFUND_SCRIPT = `${PRELUDE}
local n = tonumber(ARGV[2])
for i = 1, n do
  local o = readOp(3 + (i - 1) * ${OP_STRIDE})
  local key = KEYS[i]
  if o.kind == 'cc' then
    redis.call('ZREM', key, o.lease)
  else
    local state = readField(key, o.tag)
    if state ~= nil then
      local newState = nil
      if o.kind == 'tb' or o.kind == 'lb' then
        local tat = tonumber(state) - o.cost * o.p1
        if tat > now then newState = fmt(tat) end
      elseif o.kind == 'fw' then
        -- A call counted in an earlier window is already forgotten: nothing to give back.
        local W = o.p2
        local s = split(state, ':')
        if s[1] == math.floor(now / W) * W and s[2] - o.cost > 0 then
          newState = fmt(s[1]) .. ':' .. fmt(s[2] - o.cost)
        end
      elseif o.kind == 'sc' then
        -- Counted in an earlier window: that count is now the previous one and stays.
        local W = o.p2
        local s = split(state, ':')
        if s[1] == math.floor(now / W) * W then
          newState = fmt(s[1]) .. ':' .. fmt(math.max(0, s[2] - o.cost)) .. ':' .. fmt(s[3])
        else
          newState = state
        end
      elseif o.kind == 'sw' then
        -- Drop what left the window, then remove the newest entry of exactly this cost (almost always the
        -- refunded call); failing that, take the cost off the newest entries.
        local all = split(state, ',')
        local s = {}
        for j = 1, #all - 1, 2 do
          if all[j] > now - o.p2 then
            s[#s + 1] = all[j]
            s[#s + 1] = all[j + 1]
          end
        end
        local match = nil
        for j = #s - 1, 1, -2 do
          if s[j + 1] == o.cost then
            match = j
            break
          end
        end
        if match ~= nil then
          table.remove(s, match)
          table.remove(s, match)
        else
          local left = o.cost
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
        if #s > 0 then
          local parts = {}
          for j = 1, #s do parts[j] = fmt(s[j]) end
          newState = table.concat(parts, ',')
        end
      end
      if newState == nil then
        redis.call('HDEL', key, o.tag)
      else
        redis.call('HSET', key, o.tag, newState)
      end
    end
  end
end
return fmt(now)
`;

/**
 * Renews a live lease: `KEYS[1]` = lease set, `ARGV[1]` = lease id, `ARGV[2]` = leaseMs. Returns 1 when renewed,
 * 0 when the lease is gone (expired or released).
 */
export const RENEW_SCRIPT = `${PRELUDE}
local key, lease, leaseMs = KEYS[1], ARGV[1], tonumber(ARGV[2])
local score = redis.call('ZSCORE', key, lease)
if score == false or tonumber(score) <= now then
  redis.call('ZREM', key, lease)
  return 0
end
redis.call('ZADD', key, fmt(now + leaseMs), lease)
extendTtl(key, leaseMs)
return 1
`;
