package redisstore

import "github.com/redis/go-redis/v9"

// The store's keys share the hash tag {prefix}, so the scripts work on a
// Redis Cluster too. KEYS[1] is the stream, KEYS[2] the hash from each id
// to the Seqs of its updates in history (ids may repeat: decimal Seqs
// separated by spaces, oldest first), KEYS[3] the Seq counter. Stream entries have ID "<seq>-0" (so entry order
// is Seq order) and the fields id, t (Unix milliseconds, for age trimming)
// and u (the update's JSON).

// trimLua is shared by the scripts: trim(maxlen, cutMs) drops the oldest
// entries beyond maxlen and those older than cutMs (when not 0), taking
// their Seqs off the hash, with XTRIM MINID. The oldest entry is always
// the oldest occurrence of its id, so its Seq is the first of the list.
const trimLua = `
local function forget(id)
  local l = redis.call('HGET', KEYS[2], id)
  if not l then return end
  local rest = string.match(l, '^%d+ (.*)$')
  if rest then redis.call('HSET', KEYS[2], id, rest) else redis.call('HDEL', KEYS[2], id) end
end
local function trim(maxlen, cut)
  local excess = redis.call('XLEN', KEYS[1]) - maxlen
  while excess > 0 or cut > 0 do
    local batch = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
    local last = nil
    for _, e in ipairs(batch) do
      local f = e[2]
      if not (excess > 0 or tonumber(f[4]) < cut) then break end
      forget(f[2])
      last = e[1]
      excess = excess - 1
    end
    if last == nil then return end
    local seq = string.match(last, '^(%d+)-')
    redis.call('XTRIM', KEYS[1], 'MINID', (tonumber(seq) + 1) .. '-0')
    if #batch < 100 then return end
  end
end
`

// appendScript: ARGV = id, update JSON, time (ms), maxlen, cut (ms, 0 for
// none). Returns the update's seq.
var appendScript = redis.NewScript(trimLua + `
local maxlen, cut = tonumber(ARGV[4]), tonumber(ARGV[5])
trim(maxlen, cut)
-- Seq never goes below the clock in milliseconds: should Redis lose its data
-- (no persistence, a restart), the counter starts again above every Seq the
-- nodes have seen, instead of at 1 below them, where they would ignore it.
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local seq = redis.call('INCR', KEYS[3])
if seq < floor then
  seq = floor
  redis.call('SET', KEYS[3], string.format('%.0f', floor))
end
seq = string.format('%.0f', seq)
redis.call('XADD', KEYS[1], seq .. '-0', 'id', ARGV[1], 't', ARGV[3], 'u', ARGV[2])
local l = redis.call('HGET', KEYS[2], ARGV[1])
if l then redis.call('HSET', KEYS[2], ARGV[1], l .. ' ' .. seq) else redis.call('HSET', KEYS[2], ARGV[1], seq) end
trim(maxlen, cut)
return seq
`)

// lookupScript: ARGV = id, cut (ms, 0 for none). Returns the seq of the
// earliest update with this id still in history and not expired, or false.
var lookupScript = redis.NewScript(`
local l = redis.call('HGET', KEYS[2], ARGV[1])
if not l then return false end
for s in string.gmatch(l, '%d+') do
  local e = redis.call('XRANGE', KEYS[1], s .. '-0', s .. '-0')
  if #e > 0 and tonumber(e[1][2][4]) >= tonumber(ARGV[2]) then return s end
end
return false
`)
