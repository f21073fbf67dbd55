-- Update an identity or a cluster: touch, decayed risk, cluster link, member count, fields.
-- KEYS[1]: base key P:{i:<identity>} or P:{c:<cluster>} of the state HASH <base>:s
--          {fs, ls, n, r, rt, cl, f:<name>...} and, when a member is given (clusters count
--          their member identities), the member HLL <base>:m
-- KEYS[2]: ranking ZSET, only on standalone Redis (on Cluster it lives in another slot and
--          the caller adds the returned score itself)
-- ARGV: now, touch (0/1), risk_add, cluster ('' = keep), member ('' = none), half_life,
--       ttl_ms, top_k, ranked id, then field name/value pairs
-- Returns {risk, score or false}; score = log2(risk) + rt / half_life ranks entries by
-- their decayed risk at any later time (the decay factor is common to all of them).
local now = tonumber(ARGV[1])
local touch = ARGV[2] == '1'
local add = tonumber(ARGV[3])
local hl = tonumber(ARGV[6])
local state = KEYS[1] .. ':s'
local members = nil
if ARGV[5] ~= '' then members = KEYS[1] .. ':m' end
local rank = KEYS[2]
local st = redis.call('HMGET', state, 'fs', 'ls', 'r', 'rt')
if not st[1] then
  redis.call('HSET', state, 'fs', ARGV[1], 'ls', ARGV[1], 'n', 0)
end
if touch then
  redis.call('HINCRBY', state, 'n', 1)
  if (not st[2]) or now > tonumber(st[2]) then
    redis.call('HSET', state, 'ls', ARGV[1])
  end
end
local risk = tonumber(st[3]) or 0
local rt = tonumber(st[4]) or now
if now > rt then
  risk = risk * math.pow(0.5, (now - rt) / hl)
  rt = now
end
local score = false
if add ~= 0 then
  risk = risk + add
  if risk < 0 then risk = 0 end
  redis.call('HSET', state, 'r', string.format('%.17g', risk), 'rt', string.format('%.17g', rt))
  if risk > 0 then
    score = math.log(risk) / math.log(2) + rt / hl
  end
  if rank then
    if score then
      redis.call('ZADD', rank, score, ARGV[9])
      redis.call('ZREMRANGEBYRANK', rank, 0, -(tonumber(ARGV[8]) + 1))
      redis.call('PEXPIRE', rank, ARGV[7])
    else
      redis.call('ZREM', rank, ARGV[9])
    end
  end
end
if ARGV[4] ~= '' then
  redis.call('HSET', state, 'cl', ARGV[4])
end
if members then
  redis.call('PFADD', members, ARGV[5])
  redis.call('PEXPIRE', members, ARGV[7])
end
for i = 10, #ARGV, 2 do
  redis.call('HSET', state, 'f:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', state, ARGV[7])
if score then score = string.format('%.17g', score) end
return {string.format('%.17g', risk), score}
