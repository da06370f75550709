/**
 * @module
 * Blocking in Lua, for the Redis batch script (see `src/stores/redis/lua.ts` for the helpers and the wire
 * format). Encodes `decide.ts` exactly.
 *
 * On the wire a block is one more op of the call, right before the rate op that carries it (the "block op"):
 * kind {@link BLOCK_KIND_CODE}, tag `blk`, `p1` = block_memory (ms), `p2` = how many rate ops after it the block
 * covers, cost 0, and the block lengths (ms, comma separated) in the lease id's place. Its key is the rate
 * state hash of `(limiterId, key)`, so the block is one more field of it and `reset` (a `DEL`) forgets it.
 *
 * Stored state (the hash field `blk`): `untilMs:count`.
 */

/** The block op's kind code on the wire. */
export const BLOCK_KIND_CODE = "bk";

/**
 * `blockCheck(key, o)`: whether the key is blocked now, as a decision (`allowed` when it is not); `limit` holds
 * the block count and `untilMs` the stored end, for {@link BLOCK_START_LUA}. Uses `readField` (pending writes).
 */
export const BLOCK_CHECK_LUA = `
local function blockCheck(key, o)
  local state = readField(key, o.tag)
  local untilMs, count = 0, 0
  if state ~= nil then
    local a, b = string.match(state, '^([^:]+):([^:]+)')
    untilMs, count = tonumber(a), tonumber(b)
  end
  local left = untilMs - now
  if left < 0 then left = 0 end
  return { allowed = left <= 0, limit = count, remaining = 0, resetAfter = left, retryAfter = left, wait = 0,
           untilMs = untilMs, ttl = 0 }
end
`;

/**
 * `blockStart(key, o, d)`: starts the block of block op \`o\` (whose check \`d\` found no block running), the one
 * write a denied call makes: the next step of the row when the previous block ended less than block_memory
 * ago, else the first. Updates \`d\` into the block op's reply (remaining 1: started; retryAfter: its length).
 */
export const BLOCK_START_LUA = `
local function blockStart(key, o, d)
  -- An earlier block op of this call (the same limiter and key twice) started it: one denial, one block.
  local running = blockCheck(key, o)
  if not running.allowed then
    d.limit = running.limit
    d.resetAfter = running.resetAfter
    d.retryAfter = running.retryAfter
    return
  end
  local steps = {}
  for part in string.gmatch(o.lease, '[^,]+') do steps[#steps + 1] = tonumber(part) end
  local count = 1
  if d.untilMs > 0 and now < d.untilMs + o.p1 then count = d.limit + 1 end
  local step = count
  if step > #steps then step = #steps end
  local len = steps[step]
  redis.call('HSET', key, o.tag, fmt(now + len) .. ':' .. fmt(count))
  extendTtl(key, len + o.p1)
  d.limit = count
  d.remaining = 1
  d.resetAfter = len
  d.retryAfter = len
end
`;
