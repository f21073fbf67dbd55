-- The expiry scores of members of one allow/deny/watch list (one key, so one slot).
-- KEYS[1]: the list's ZSET; ARGV: members. Returns one score or false per member, in order.
local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('ZSCORE', KEYS[1], ARGV[i])
end
return out
