-- Read an identity's state and count its distinct values; keys share the identity's tag.
-- KEYS[1]: base key P:{i:<identity>} of the state HASH <base>:s and of one HLL
--          <base>:v:<name> per value name
-- ARGV[1]: ttl_ms; then name, value pairs
local base = KEYS[1]
local counts = {}
for i = 2, #ARGV, 2 do
  local key = base .. ':v:' .. ARGV[i]
  redis.call('PFADD', key, ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
  counts[#counts + 1] = redis.call('PFCOUNT', key)
end
return {redis.call('HGETALL', base .. ':s'), counts}
