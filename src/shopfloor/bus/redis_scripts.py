"""The Lua scripts of the Redis bus. Each runs atomically in Redis: no crash between its steps.

Keys of one topic and group (``RedisBus._keys``): the topic's stream, the group's retry stream
(retries come due into it), the group's retry sorted set (score: due time, server clock).
"""

from __future__ import annotations

# TAKE: what a consume hands out without blocking, in the order the protocol asks:
#   1. entries of the topic or retry stream idle past the visibility timeout (XAUTOCLAIM),
#   2. retries that came due: moved from the sorted set into the retry stream and read there,
#   3. new entries of the topic stream (XREADGROUP >).
# Moving (XADD + ZREM) and reading (XREADGROUP, which makes the entry pending) happen in one
# script, so a retry is in exactly one place at any time: the sorted set, or the retry stream
# (pending or not), whence XAUTOCLAIM recovers it if its consumer dies.
# Returns {entries, hint_ms}: entries as {source, id, {field, value, ...}} with source "m" (topic
# stream) or "r" (retry stream); when nothing was found, hint_ms says how soon something comes
# due (a retry, or a pending entry passing the timeout), -1 when nothing is scheduled.
# KEYS: topic stream, retry stream, retry zset. ARGV: group, consumer, min idle ms, count.
TAKE = """
local group, consumer = ARGV[1], ARGV[2]
local idle, count = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}

local function add(source, entries)
  for _, entry in ipairs(entries) do
    if entry[2] then table.insert(out, {source, entry[1], entry[2]}) end
  end
end

local function claim(key, source)
  if #out >= count then return end
  local r = redis.call('XAUTOCLAIM', key, group, consumer, idle, '0-0', 'COUNT', count - #out)
  add(source, r[2])
end

local function read(key, source)
  if #out >= count then return end
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #out,
                      'STREAMS', key, '>')
  if r then add(source, r[1][2]) end
end

claim(KEYS[1], 'm')
claim(KEYS[2], 'r')
if #out < count then
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('%.6f', now),
                         'LIMIT', 0, count - #out)
  for _, member in ipairs(due) do
    redis.call('XADD', KEYS[2], '*', 'envelope', member)
    redis.call('ZREM', KEYS[3], member)
  end
end
read(KEYS[2], 'r')
read(KEYS[1], 'm')
if #out > 0 then return {out, -1} end

local hint = -1
local function soonest(ms)
  if ms < 0 then ms = 0 end
  if hint < 0 or ms < hint then hint = ms end
end
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then soonest((tonumber(first[2]) - now) * 1000) end
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  for _, p in ipairs(redis.call('XPENDING', key, group, '-', '+', 10)) do
    soonest(idle - p[3])
  end
end
return {out, math.floor(hint)}
"""

# FAIL: settle a failed delivery. Only a delivery still pending is settled (a late fail after
# another consumer took the entry over and settled it changes nothing): XACK it (and XDEL it when
# it lives in the retry stream, which only this group reads), then either schedule the retry in
# the sorted set (due = server time + delay) or append the dead letter.
# KEYS: the delivery's stream, retry zset, dead-letter stream.
# ARGV: group, entry id, "1" to XDEL, delay seconds ("" to dead-letter), then the retry member
# or the dead letter's field/value pairs. Returns -1 (not pending), 0 (retry), 1 (dead letter).
FAIL = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return -1 end
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
if ARGV[4] == '' then
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, 5))
  return 1
end
local t = redis.call('TIME')
local due = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], string.format('%.6f', due), ARGV[5])
return 0
"""
