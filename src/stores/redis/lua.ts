/**
 * @module
 * The Lua scripts of the Redis store: one per kind of call (decide, peek, refund, renew), plus a lean decide
 * script per rate algorithm for the common single-op call. Each reads the clock with `TIME` inside the script,
 * so every decision uses the store's clock, and each does all its reads and writes in one atomic call. They
 * encode `src/algorithms/` exactly (see the math reference there); the tests compare them with those pure
 * functions. Every script is assembled from the same Lua source pieces below (one `fmt`, one function per
 * algorithm), so the general and the lean scripts cannot drift apart.
 *
 * Wire format (built by `codec.ts`):
 * - General scripts (decide, peek, refund): `KEYS[i]` is the state key of op `i`: a hash (field = state tag) for
 *   rate ops, a sorted set of leases (member = lease id, score = expiry) for concurrency ops.
 *   `ARGV[1]` = maxWaitMs, `ARGV[2]` = number of ops, then 6 values per op:
 *   kind code, state tag, p1, p2, cost, lease id — where (p1, p2) is (intervalMs, burst) for buckets,
 *   (limit, windowMs) for windows and (maxConcurrent, leaseMs) for concurrency. Decide takes one more value
 *   after the ops: its deadline on the store clock (ms since the epoch; empty for none).
 * - Lean decide scripts (`LEAN_DECIDE_SCRIPTS`, one per rate algorithm; used for a decision of exactly one op
 *   that is not a concurrency op): `KEYS[1]` = the state hash, `ARGV` = state tag, p1, p2, cost, maxWaitMs,
 *   deadline (as for decide).
 *   The algorithm is chosen by the script, so it is not sent; there is no op count and no lease id.
 * - Decide and peek reply `[nowMs, allAllowed, (allowed, limit, remaining, resetAfterMs, retryAfterMs, waitMs)
 *   per op]`, the lean scripts included (with one op). Whole numbers below 1e15 go back as Redis integers (no
 *   string to format); others as strings (`%.17g`, `inf`), since a Lua number returned as-is would be truncated
 *   to an integer. `codec.ts` reads both with `Number()`. A decide (lean or general) that reached Redis after its
 *   deadline replies `[nowMs, -1]` and touches nothing.
 *
 * Stored state (hash field values, numbers as `fmt` prints them — `%d` when whole, else `%.17g` — so they
 * round-trip exactly; a window start already stored may be written back as the same text; the lean scripts read and
 * write exactly this, so both kinds of script, and processes of either version, share state):
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

/** Reads the store's clock; first in every script, so all of a script's math uses one instant. */
const CLOCK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/** Number formatting, rounding of remaining units, and the TTL rule: used by every script. */
const HELPERS = `
local EPS = 0.001
local INF = math.huge

local function fmt(x)
  if x == INF then return 'inf' end
  -- Whole numbers (counts, limits, zero waits) print exactly with %d, which is much cheaper than %.17g.
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  return string.format('%.17g', x)
end

-- A number for a reply: a whole one goes back as a Redis integer (exact below 1e15, and no string to format,
-- which is a large share of a short script's cost); any other through fmt. Replies are decoded with Number(),
-- which reads both the same.
local function num(x)
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return x end
  return fmt(x)
end

local function rem(x)
  local r = math.floor(x + EPS)
  if r < 0 then return 0 end
  return r
end

-- TTL in whole ms for a state that must live ttl ms more (at least 1: PEXPIRE 0 would delete the key).
local function ttlMs(ttl)
  local ms = math.ceil(ttl)
  if ms < 1 then ms = 1 end
  return ms
end

-- Extends a key's TTL to at least ttl ms (never shortens it: another state tag in the same hash may need longer,
-- and state kept a little longer than needed is harmless because the math ignores what no longer constrains).
local function extendTtl(key, ttl)
  local ms = ttlMs(ttl)
  local current = redis.call('PTTL', key)
  if current < ms then redis.call('PEXPIRE', key, ms) end
end
`;

/** Parses the `t0,c0,t1,c1,…` list of the exact log (and the `:` states of the general refund). */
const SPLIT = `
local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  for part in string.gmatch(s, '[^' .. sep .. ']+') do out[#out + 1] = tonumber(part) end
  return out
end
`;

/*
 * The math, one Lua function per rate algorithm, shared by the general and the lean scripts. Each takes
 * (state or nil, p1, p2, cost, maxWait) and returns, as multiple values (no table per call):
 * allowed, limit, remaining, resetAfter, retryAfter, wait, newState (string, nil when denied), ttl (ms the key
 * must live after a write), and for the windows a 9th value `fresh`: true when the stored state was not of the
 * current window (so this write is the window's first; the lean scripts use it to skip TTL work).
 * Window states are `start:count…`; they are parsed with one string.match rather than split (a table and an
 * iterator per call) — same numbers, as tonumber of the same digits.
 */
const TOKEN_BUCKET = `
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

const LEAKY_BUCKET = `
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

const FIXED_WINDOW = `
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

const SLIDING_WINDOW = `
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

const SLIDING_COUNTER = `
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
 * Refuses a decision that reached Redis after its deadline (store clock, ms since the epoch; empty or absent:
 * none). Its caller has already seen the call fail with a timeout, so applying it would consume for a call that
 * was never admitted. Replies `[nowMs, -1]`: nothing read, nothing written.
 */
function pastDeadline(arg: string): string {
  return `
local deadline = tonumber(${arg})
if deadline ~= nil and now > deadline then return { fmt(now), -1 } end
`;
}

/** Helpers and the math of every algorithm, for the general scripts. Defines `decideOp` and `liveLeases`. */
const PRELUDE = `${CLOCK}${HELPERS}${SPLIT}${TOKEN_BUCKET}${LEAKY_BUCKET}${FIXED_WINDOW}${SLIDING_WINDOW}${SLIDING_COUNTER}
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

-- A decision is { allowed, limit, remaining, resetAfter, retryAfter, wait, newState (string or nil), ttl }
-- (the algorithms' 9th value, \`fresh\`, is for the lean scripts only and is dropped here).
local function result(allowed, limit, remaining, resetAfter, retryAfter, wait, newState, ttl)
  return { allowed = allowed, limit = limit, remaining = remaining, resetAfter = resetAfter,
           retryAfter = retryAfter, wait = wait, newState = newState, ttl = ttl }
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
  if o.kind == 'tb' then return result(tokenBucket(state, o.p1, o.p2, o.cost, maxWait)) end
  if o.kind == 'lb' then return result(leakyBucket(state, o.p1, o.p2, o.cost, maxWait)) end
  if o.kind == 'fw' then return result(fixedWindow(state, o.p1, o.p2, o.cost)) end
  if o.kind == 'sw' then return result(slidingWindow(state, o.p1, o.p2, o.cost)) end
  if o.kind == 'sc' then return result(slidingCounter(state, o.p1, o.p2, o.cost)) end
  error('unknown kind ' .. tostring(o.kind))
end

local function encode(d)
  local allowed = 0
  if d.allowed then allowed = 1 end
  return { allowed, num(d.limit), num(d.remaining), num(d.resetAfter), num(d.retryAfter), num(d.wait) }
end
`;

/**
 * Decides every op; applies all of them only when all are allowed. Returns
 * `[nowMs, allAllowed, (allowed, limit, remaining, resetAfterMs, retryAfterMs, waitMs) per op]`.
 */
export const DECIDE_SCRIPT = `${PRELUDE}
local maxWait = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
${pastDeadline(`ARGV[3 + n * ${OP_STRIDE}]`)}
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
  local e = { allowed, num(d.limit), num(remaining), num(resetAfter), num(d.retryAfter), num(d.wait) }
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

/** Kind codes that have a lean single-op decide script: every rate algorithm (not concurrency). */
export type LeanKindCode = Exclude<(typeof KIND_CODES)[keyof typeof KIND_CODES], "cc">;

/**
 * TTL upkeep after a write whose required expiry grows with every write (buckets: the new `tat`; the exact log:
 * its newest entry + W). With the state field present, the key already has a TTL: every script that writes a
 * rate hash sets its TTL in the same atomic run as the HSET, and nothing removes a TTL (no PERSIST, no SET;
 * refund only rewrites or deletes fields of a key it found). So `PEXPIRE key ms GT` — extend only when later
 * than the current expiry — is exactly "extend, never shorten", in one call instead of PTTL + PEXPIRE. GT
 * exists since Redis 7.0 and treats a key without TTL as infinite (it would leave a fresh key immortal), so it
 * is used only when the field was there, and only where the server says it is 7.0+: `redis.REDIS_VERSION_NUM`
 * is itself new in 7.0, so it is nil on older servers, which keep PTTL + PEXPIRE.
 */
const GROWING_TTL = `
if state == nil or redis.REDIS_VERSION_NUM == nil then
  extendTtl(key, ttl)
else
  redis.call('PEXPIRE', key, ttlMs(ttl), 'GT')
end
`;

/**
 * TTL upkeep after a write to a window counter. Its required expiry is the same instant for every write of one
 * window (fixed window: the window's end; sliding counter: the end of the next window, while the count still
 * weighs), so only the window's first write (`fresh`: the stored state was of another window, or absent) has to
 * extend it. Any later write of the same window finds the state of this window, which only a decide of this
 * window can have written — and that decide extended the TTL to the very same instant (up to the same 1 ms
 * rounding). Nothing shortens a TTL since (extendTtl never shortens; a refund HDELs the field or rewrites it in
 * place, and a field it deletes makes the next write `fresh` again; a reset DELs the whole key).
 */
const WINDOW_TTL = `
if fresh then extendTtl(key, ttl) end
`;

/** A lean decide script: one rate op, no op table, no closures per op, no pending-writes map. */
function leanDecide(pieces: string, call: string, ttlUpkeep: string): string {
  return `${CLOCK}${HELPERS}${pastDeadline("ARGV[6]")}${pieces}
local key, tag = KEYS[1], ARGV[1]
local state = redis.call('HGET', key, tag)
if state == false then state = nil end
local allowed, limit, remaining, resetAfter, retryAfter, wait, newState, ttl, fresh =
  ${call}(state, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
local a = 0
if allowed then
  a = 1
  redis.call('HSET', key, tag, newState)
${ttlUpkeep}
end
return { fmt(now), a, a, num(limit), num(remaining), num(resetAfter), num(retryAfter), num(wait) }
`;
}

/**
 * Lean decide scripts by kind code, for a decision of exactly one rate op: `KEYS[1]` = state hash,
 * `ARGV` = state tag, p1, p2, cost, maxWaitMs. Same math, state format and reply as {@link DECIDE_SCRIPT} with
 * one op (the same Lua functions), fewer Redis calls (see `GROWING_TTL`, `WINDOW_TTL`) and far less Lua work.
 */
export const LEAN_DECIDE_SCRIPTS: Readonly<Record<LeanKindCode, string>> = {
  tb: leanDecide(TOKEN_BUCKET, "tokenBucket", GROWING_TTL),
  lb: leanDecide(LEAKY_BUCKET, "leakyBucket", GROWING_TTL),
  fw: leanDecide(FIXED_WINDOW, "fixedWindow", WINDOW_TTL),
  sw: leanDecide(`${SPLIT}${SLIDING_WINDOW}`, "slidingWindow", GROWING_TTL),
  sc: leanDecide(SLIDING_COUNTER, "slidingCounter", WINDOW_TTL),
};
