-- Count one identity against one feature; all keys share the feature's hash tag.
-- KEYS[1]: meta HASH {fs = first seen, fi = first identity, pr = promoted, cl = cluster}
-- KEYS[2 .. 1+ns]: short-window HLLs, current sub-bucket first
-- KEYS[2+ns .. #KEYS-1]: long-window HLLs, current sub-bucket first
-- KEYS[#KEYS]: mature identities' HLL (detect-spread addition; written by apply)
-- ARGV: identity, now, ns, meta_ttl_ms, short_ttl_ms, long_ttl_ms
-- Long-window HLLs are only written once a second distinct identity shows up (the feature
-- is then "promoted" and the first identity is added too): most features are one-offs and
-- would otherwise cost a long HLL each.
local id = ARGV[1]
local now = ARGV[2]
local ns = tonumber(ARGV[3])
local m = redis.call('HMGET', KEYS[1], 'fs', 'fi', 'pr', 'cl')
local fs = m[1]
if not fs then
  fs = now
  redis.call('HSET', KEYS[1], 'fs', now)
end
if not m[2] then
  redis.call('HSET', KEYS[1], 'fi', id)
end

redis.call('PFADD', KEYS[2], id)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local short = redis.call('PFCOUNT', unpack(KEYS, 2, 1 + ns))

local long_cur = 2 + ns
local promoted = m[3] == '1'
if (not promoted) and m[2] and m[2] ~= id then
  promoted = true
  redis.call('HSET', KEYS[1], 'pr', '1')
  redis.call('PFADD', KEYS[long_cur], m[2])
end
local long = 1
if promoted then
  redis.call('PFADD', KEYS[long_cur], id)
  redis.call('PEXPIRE', KEYS[long_cur], ARGV[6])
  long = redis.call('PFCOUNT', unpack(KEYS, long_cur, #KEYS - 1))
end
if long < short then long = short end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
-- detect-spread addition: the mature count (0 when the HLL does not exist)
local mature = redis.call('PFCOUNT', KEYS[#KEYS])
return {short, long, fs, m[4] or false, mature}
