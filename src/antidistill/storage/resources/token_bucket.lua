-- Token bucket on one HASH {t = tokens, ts = time of t}. Single key, so one slot.
-- KEYS[1]: bucket
-- ARGV: capacity, refill_per_second, cost, force (0/1), peek (0/1),
--       debt_limit (-1 = unbounded), now (caller clock, seconds), max_ttl_ms
-- Returns {allowed (0/1), remaining, retry_after, reset_after}; floats as strings because
-- Redis truncates Lua numbers to integers on the way out.
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local force = ARGV[4] == '1'
local peek = ARGV[5] == '1'
local debt = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local max_ttl = tonumber(ARGV[8])
local inf = 1 / 0
local eps = 1e-9

local level = capacity
local ts = now
local st = redis.call('HMGET', KEYS[1], 't', 'ts')
if st[1] then
  level = tonumber(st[1])
  ts = tonumber(st[2])
  -- a caller whose clock lags another instance's never refills backwards
  if now > ts then
    level = level + (now - ts) * rate
    ts = now
  end
  if level > capacity then level = capacity end
end

local need = cost
if need > capacity then need = capacity end
local allowed = cost <= 0 or level >= need - eps  -- a refund always conforms
local after = level
if (not peek) and (allowed or force) then
  after = level - cost
  if after > capacity then after = capacity end
  if debt >= 0 and after < -debt then after = -debt end
end

local retry_after = 0
if not allowed then
  local base = level
  if force then base = after end
  if rate > 0 then retry_after = (need - base) / rate else retry_after = inf end
end
local reset_after = 0
if after < capacity then
  if rate > 0 then reset_after = (capacity - after) / rate else reset_after = inf end
end

if not peek then
  if after >= capacity then
    -- a full bucket is the same as no bucket
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 't', string.format('%.17g', after), 'ts', string.format('%.17g', ts))
    local ttl = max_ttl
    if rate > 0 then
      ttl = math.ceil(reset_after * 2000) + 1000
      if ttl > max_ttl then ttl = max_ttl end
    end
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end

local a = 0
if allowed then a = 1 end
return {a, string.format('%.17g', after), string.format('%.17g', retry_after),
        string.format('%.17g', reset_after)}
