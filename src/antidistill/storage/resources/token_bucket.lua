-- Token buckets, one HASH {t = tokens, ts = time of t} each, applied in KEYS order (on
-- Cluster one call per bucket: each bucket is its own slot).
-- KEYS[k]: bucket k
-- ARGV: now (caller clock, seconds), max_ttl_ms, then per bucket six values:
--       capacity, refill_per_second, cost, force (0/1), peek (0/1), debt_limit (-1 = unbounded)
-- Returns {allowed (0/1), remaining, retry_after, reset_after} per bucket, flat; floats as
-- strings because Redis truncates Lua numbers to integers on the way out.
local now = tonumber(ARGV[1])
local max_ttl = tonumber(ARGV[2])
local inf = 1 / 0
local eps = 1e-9

local function bucket(key, o)
  local capacity = tonumber(ARGV[o + 1])
  local rate = tonumber(ARGV[o + 2])
  local cost = tonumber(ARGV[o + 3])
  local force = ARGV[o + 4] == '1'
  local peek = ARGV[o + 5] == '1'
  local debt = tonumber(ARGV[o + 6])

  local level = capacity
  local ts = now
  local st = redis.call('HMGET', key, 't', 'ts')
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
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 't', string.format('%.17g', after), 'ts', string.format('%.17g', ts))
      local ttl = max_ttl
      if rate > 0 then
        ttl = math.ceil(reset_after * 2000) + 1000
        if ttl > max_ttl then ttl = max_ttl end
      end
      redis.call('PEXPIRE', key, ttl)
    end
  end

  local a = 0
  if allowed then a = 1 end
  return a, string.format('%.17g', after), string.format('%.17g', retry_after),
         string.format('%.17g', reset_after)
end

local out = {}
for k = 1, #KEYS do
  local j = 4 * (k - 1)
  out[j + 1], out[j + 2], out[j + 3], out[j + 4] = bucket(KEYS[k], 2 + 6 * (k - 1))
end
return out
