-- Read an identity's state and count its distinct values; keys share the identity's tag.
-- KEYS[1]: state HASH; KEYS[2..]: one HLL per value name
-- ARGV[1]: ttl_ms; ARGV[2..]: the values, in KEYS order
local counts = {}
for i = 2, #KEYS do
  redis.call('PFADD', KEYS[i], ARGV[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  counts[i - 1] = redis.call('PFCOUNT', KEYS[i])
end
return {redis.call('HGETALL', KEYS[1]), counts}
