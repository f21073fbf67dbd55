-- Read an identity's state and count its distinct values; keys share the identity's tag.
-- KEYS[1]: base key P:{i:<identity>} of the state HASH <base>:s and of one HLL
--          <base>:v:<name> per value name
-- ARGV[1]: ttl_ms; ARGV[2]: cluster key prefix (P:{c:) or ''; then name, value pairs
-- Returns {state, counts, cluster state}: with a prefix (standalone Redis) the state
-- {fs, ls, r, rt, members} of the identity's cluster, else false (see feature_observe.lua).
local base = KEYS[1]
local counts = {}
for i = 3, #ARGV, 2 do
  local key = base .. ':v:' .. ARGV[i]
  redis.call('PFADD', key, ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
  counts[#counts + 1] = redis.call('PFCOUNT', key)
end
local state = redis.call('HGETALL', base .. ':s')
local cl = false
if ARGV[2] ~= '' then
  for i = 1, #state, 2 do
    if state[i] == 'cl' and state[i + 1] ~= '' then
      local c = ARGV[2] .. state[i + 1] .. '}'
      local st = redis.call('HMGET', c .. ':s', 'fs', 'ls', 'r', 'rt')
      cl = {st[1], st[2], st[3], st[4], redis.call('PFCOUNT', c .. ':m')}
    end
  end
end
return {state, counts, cl}
