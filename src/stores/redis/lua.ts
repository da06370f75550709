/**
 * @module
 * The Lua scripts of the Redis store: a batch decide script (the decisions of one event-loop turn on one node
 * or hash slot, in one run), peek, refund and renew, plus a lean decide script per rate algorithm for a lone
 * single-op call. Each reads the clock with `TIME` once inside the script, so every decision uses the store's
 * clock, and each does all its reads and writes in one atomic run. They encode `src/algorithms/` exactly (see
 * the math reference there); the tests compare them with those pure functions. Every script is assembled from
 * the same Lua source pieces below (one `fmt`, one function per algorithm), so the scripts cannot drift apart.
 *
 * Wire format (built by `codec.ts`):
 * - Peek and refund: `KEYS[i]` is the state key of op `i`: a hash (field = state tag) for rate ops, a sorted
 *   set of leases (member = lease id, score = expiry) for concurrency ops. `ARGV[1]` = maxWaitMs, `ARGV[2]` =
 *   number of ops, then 6 values per op: kind code, state tag, p1, p2, cost, lease id — where (p1, p2) is
 *   (intervalMs, burst) for buckets, (limit, windowMs) for windows and (maxConcurrent, leaseMs) for concurrency.
 *   The peeks (or refunds) of one turn go as one run: their ops one after the other, under one op count.
 * - Batch decide (`BATCH_DECIDE_SCRIPT`): `KEYS` = each call's op keys, call after call; `ARGV[1]` = the
 *   arguments packed into one string, each followed by a space: the number of calls, then per call: op count,
 *   maxWaitMs, deadline on the store clock (ms since the epoch; empty for none), and its ops (6 values each, as
 *   above). Replies with one array per call, in the format below.
 * - Lean decide scripts (`LEAN_DECIDE_SCRIPTS`, one per rate algorithm; used for a lone decision of exactly one
 *   op that is not a concurrency op): `KEYS[1]` = the state hash, `ARGV` = state tag, p1, p2, cost, maxWaitMs,
 *   deadline. The algorithm is chosen by the script, so it is not sent; there is no op count and no lease id.
 * - A limiter's block (`block`, `block_escalation`) travels as one more op of the call, kind `bk`, right before
 *   the rate op it rides on, on the same hash (see `src/algorithms/block/lua.ts`); peeks send it too, refunds
 *   do not. Only the batch script knows it (such a call has two keys, so it never takes a lean script).
 * - A decision and a peek reply `[nowMs, allAllowed, (allowed, limit, remaining, resetAfterMs, retryAfterMs,
 *   waitMs) per op]`. Whole numbers below 1e15 go back as Redis integers (no string to format); others as
 *   strings (`%.17g`, `inf`), since a Lua number returned as-is would be truncated to an integer. `codec.ts`
 *   reads both with `Number()`. A decision that reached Redis after its deadline replies `[nowMs, -1]` and
 *   touches nothing (in a batch: that call alone).
 *
 * Stored state (hash field values, numbers as `fmt` prints them — `%d` when whole, else `%.17g` — so they
 * round-trip exactly; a window start already stored may be written back as the same text; every script reads
 * and writes exactly this, so all of them, and processes of either version, share state): each algorithm's
 * `lua.ts` (`src/algorithms/<name>/lua.ts`) gives its field's format.
 */

import { BLOCK_CHECK_LUA, BLOCK_KIND_CODE, BLOCK_START_LUA } from "../../algorithms/block/lua.ts";
import type { ALGORITHMS } from "../../algorithms/registry.ts";
import { ALGORITHM_SPECS, CONCURRENCY } from "../../algorithms/registry.ts";
import type { Algorithm } from "../../algorithms/types.ts";

/** The short code of each kind, sent in ARGV on every call: each registry entry's `code`. */
export const KIND_CODES = {
  ...(Object.fromEntries(ALGORITHM_SPECS.map((spec) => [spec.name, spec.code])) as {
    readonly [K in Algorithm]: (typeof ALGORITHMS)[K]["code"];
  }),
  concurrency: CONCURRENCY.code,
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

-- TTL in whole ms for a state that must live ttl ms more. Redis counts an expiry from its clock in whole ms
-- (the current ms, rounded down), while now has microseconds: a TTL of ceil(ttl) set at now = X.4 ms drops the
-- key at X + ceil(ttl), which can be before X.4 + ttl, and a call in between finds no state where the math
-- still counts one. One ms more covers the fraction (and PEXPIRE 0 would delete the key).
local function ttlMs(ttl)
  local ms = math.ceil(ttl)
  if ms < 0 then ms = 0 end
  return ms + 1
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
 * The math of each rate algorithm is one Lua function, written in its folder (`src/algorithms/<name>/lua.ts`,
 * see `LuaPieces` for the calling convention) and shared by the general and the lean scripts.
 */
const DECIDE_FUNCTIONS = ALGORITHM_SPECS.map((spec) => spec.lua.decideSource).join("");

/** Every algorithm's refund function (only the refund script needs them). */
const REFUND_FUNCTIONS = [...new Set(ALGORITHM_SPECS.map((spec) => spec.lua.refundSource))].join("");

/** One `if` per algorithm: `o.kind` → its decide function on the stored state. */
const DECIDE_DISPATCH = ALGORITHM_SPECS.map(
  (spec) =>
    `  if o.kind == '${spec.code}' then return result(${spec.lua.decide}(state, o.p1, o.p2, o.cost, maxWait, o.tag)) end\n`,
).join("");

/** One `if` per algorithm: `o.kind` → its refund function on the stored state. */
const REFUND_DISPATCH = ALGORITHM_SPECS.map(
  (spec) =>
    `  if o.kind == '${spec.code}' then return ${spec.lua.refund}(state, o.p1, o.p2, o.cost, o.tag) end\n`,
).join("");

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
const PRELUDE = `${CLOCK}${HELPERS}${SPLIT}${DECIDE_FUNCTIONS}
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

${CONCURRENCY.lua}${BLOCK_CHECK_LUA}
local function decideOp(key, o, maxWait)
  if o.kind == '${CONCURRENCY.code}' then return concurrency(key, o) end
  if o.kind == '${BLOCK_KIND_CODE}' then return blockCheck(key, o) end
  local state = readField(key, o.tag)
${DECIDE_DISPATCH}  error('unknown kind ' .. tostring(o.kind))
end

local function encode(d)
  local allowed = 0
  if d.allowed then allowed = 1 end
  return { allowed, num(d.limit), num(d.remaining), num(d.resetAfter), num(d.retryAfter), num(d.wait) }
end
`;

/** Each rate algorithm's decide function by kind code, and the kind codes whose TTL grows with every write. */
const RATE_TABLES = `
local RATE = { ${ALGORITHM_SPECS.map((spec) => `${spec.code} = ${spec.lua.decide}`).join(", ")} }
local GROWING = { ${ALGORITHM_SPECS.filter((spec) => spec.lua.ttl === "growing")
  .map((spec) => `${spec.code} = true`)
  .join(", ")} }
`;

/**
 * Decides a batch of calls in arrival order, each exactly as it would be decided alone, at one instant (one
 * `TIME`). `ARGV[1]` = number of calls, then per call: op count `n`, maxWaitMs, deadline (store clock, ms since
 * the epoch; empty for none), then its `n` ops ({@link OP_STRIDE} values each, as for the peek and refund
 * scripts). `KEYS` holds each call's keys, one per op, call after call. Replies with one array per call, in
 * today's single-call format: `[nowMs, allAllowed, (allowed, limit, remaining, resetAfterMs, retryAfterMs,
 * waitMs) per op]`, or `[nowMs, -1]` for a call past its deadline (refused alone, nothing applied).
 *
 * A call of one rate op (the common call) takes a short path: no op table, no pending writes, and the TTL
 * upkeep of its algorithm (see `GROWING_TTL`, `WINDOW_TTL`), which saves Redis calls on most writes. A
 * composite or a concurrency op takes the general path: decided member by member against the writes it has
 * pending (so two members on one state see each other), applied only when every member is allowed. The pending
 * writes start empty for every call: a call sees earlier calls of the batch through Redis itself, since each
 * call applies its writes before the next one is decided.
 */
export const BATCH_DECIDE_SCRIPT = `${PRELUDE}${RATE_TABLES}${BLOCK_START_LUA}
-- The arguments come packed in ARGV[1], each followed by a space (see encodeBatch): unpacked into ARGV in
-- place, so the code below (and readOp) reads them as if sent one by one.
do
  local i = 0
  for arg in string.gmatch(ARGV[1], '([^ ]*) ') do
    i = i + 1
    ARGV[i] = arg
  end
end
local nowText = fmt(now)
local noGt = redis.REDIS_VERSION_NUM == nil

local function decideOne(key, base, maxWait)
  local kind, tag = ARGV[base], ARGV[base + 1]
  local rate = RATE[kind]
  if rate == nil then error('unknown kind ' .. tostring(kind)) end
  local state = redis.call('HGET', key, tag)
  if state == false then state = nil end
  local allowed, limit, remaining, resetAfter, retryAfter, wait, newState, ttl, fresh =
    rate(state, tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4]), maxWait, tag)
  local a = 0
  if allowed then
    a = 1
    redis.call('HSET', key, tag, newState)
    if GROWING[kind] then
      if state == nil or noGt then extendTtl(key, ttl) else redis.call('PEXPIRE', key, ttlMs(ttl), 'GT') end
    elseif fresh then
      extendTtl(key, ttl)
    end
  end
  return { nowText, a, a, num(limit), num(remaining), num(resetAfter), num(retryAfter), num(wait) }
end

local function decideMany(keyBase, base, n, maxWait)
  pending = {}
  pendingLeases = {}
  local decisions = {}
  local all = true
  for i = 1, n do
    local o = readOp(base + (i - 1) * ${OP_STRIDE})
    local key = KEYS[keyBase + i]
    local d = decideOp(key, o, maxWait)
    decisions[i] = { o = o, d = d }
    if d.allowed then
      if o.kind == '${CONCURRENCY.code}' then
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
      local key, o, d = KEYS[keyBase + i], decisions[i].o, decisions[i].d
      if o.kind == '${CONCURRENCY.code}' then
        redis.call('ZADD', key, d.newState, o.lease)
        extendTtl(key, d.ttl)
      elseif o.kind ~= '${BLOCK_KIND_CODE}' then
        redis.call('HSET', key, o.tag, d.newState)
        extendTtl(key, d.ttl)
      end
    end
  else
    -- Denied: a block op whose key was not blocked starts its block when a rate op it covers denied.
    for i = 1, n do
      local o, d = decisions[i].o, decisions[i].d
      if o.kind == '${BLOCK_KIND_CODE}' and d.allowed then
        local denied = false
        for j = i + 1, math.min(n, i + o.p2) do
          if not decisions[j].d.allowed then denied = true end
        end
        if denied then blockStart(KEYS[keyBase + i], o, d) end
      end
    end
  end
  local out = { nowText, all and 1 or 0 }
  for i = 1, n do
    local e = encode(decisions[i].d)
    for j = 1, #e do out[#out + 1] = e[j] end
  end
  return out
end

local replies = {}
local keyBase, base = 0, 2
for c = 1, tonumber(ARGV[1]) do
  local n, maxWait, deadline = tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local first = base + 3
  if deadline ~= nil and now > deadline then
    replies[c] = { nowText, -1 }
  elseif n == 1 and ARGV[first] ~= '${CONCURRENCY.code}' then
    replies[c] = decideOne(KEYS[keyBase + 1], first, maxWait)
  else
    replies[c] = decideMany(keyBase, first, n, maxWait)
  end
  keyBase = keyBase + n
  base = first + n * ${OP_STRIDE}
end
return replies
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
  if o.kind == '${CONCURRENCY.code}' then
    local count, _, maxExp = liveLeases(key)
    remaining = rem(o.p1 - count)
    resetAfter = 0
    if maxExp ~= nil then resetAfter = maxExp - now end
  else
    -- Peek, as in every store: decide with an infinite cost, which is denied and reports the state as it stands.
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
export const REFUND_SCRIPT = `${PRELUDE}${REFUND_FUNCTIONS}
local function refundOp(o, state)
${REFUND_DISPATCH}  error('unknown kind ' .. tostring(o.kind))
end

local n = tonumber(ARGV[2])
for i = 1, n do
  local o = readOp(3 + (i - 1) * ${OP_STRIDE})
  local key = KEYS[i]
  if o.kind == '${CONCURRENCY.code}' then
    redis.call('ZREM', key, o.lease)
  else
    local state = readField(key, o.tag)
    -- A negative cost is a charge: it writes state even where there was none, and the key must live as long.
    if state ~= nil or o.cost < 0 then
      local newState, ttl = refundOp(o, state)
      if newState == nil then
        redis.call('HDEL', key, o.tag)
      else
        redis.call('HSET', key, o.tag, newState)
        if o.cost < 0 then extendTtl(key, ttl) end
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
export type LeanKindCode = (typeof ALGORITHMS)[Algorithm]["code"];

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
  ${call}(state, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tag)
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
 * `ARGV` = state tag, p1, p2, cost, maxWaitMs. Same math, state format and reply as one call of {@link BATCH_DECIDE_SCRIPT} with
 * one op (the same Lua functions), fewer Redis calls (see `GROWING_TTL`, `WINDOW_TTL`) and far less Lua work.
 */
export const LEAN_DECIDE_SCRIPTS = Object.fromEntries(
  ALGORITHM_SPECS.map((spec) => [
    spec.code,
    leanDecide(
      spec.lua.split ? `${SPLIT}${spec.lua.decideSource}` : spec.lua.decideSource,
      spec.lua.decide,
      spec.lua.ttl === "growing" ? GROWING_TTL : WINDOW_TTL,
    ),
  ]),
) as Readonly<Record<LeanKindCode, string>>;
