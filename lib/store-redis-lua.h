/*
 * The Redis store's update script (lib/store-redis.c), in a header of
 * its own because bench/bench-session.c's floor sends the very same
 * script by hand: a copy there could drift from what the store runs.
 * Private: not installed, not part of the API.
 */
#ifndef CRUMB_STORE_REDIS_LUA_H
#define CRUMB_STORE_REDIS_LUA_H

/* Lua shared by the scripts: add member m scored s to the user index
 * uk and make the index live at least ttl ms (it goes with its
 * longest-lived member). */
#define CRUMB_LUA_INDEX \
	"local function index_add(uk, s, m, ttl) " \
	"redis.call('ZADD', uk, s, m) " \
	"if redis.call('PTTL', uk) < tonumber(ttl) then " \
	"redis.call('PEXPIRE', uk, ttl) end end "

/* Compare-and-swap update by version, with an optional ID change.
 * KEYS: skey, new skey (or skey).  ARGV: prefix hex newhex version
 * version+1 state user now expires ttl.  Results: 0 done, 1 conflict, 2
 * not found (absent or expired). */
#define CRUMB_LUA_UPDATE \
	"local p, k, now = ARGV[1], KEYS[1], tonumber(ARGV[8]) " \
	"local r = redis.call('HMGET', k, 'version', 'expires', 'user') " \
	"if not r[2] or tonumber(r[2]) <= now then return 2 end " \
	"if r[1] ~= ARGV[4] then return 1 end " \
	"local exp, ttl = ARGV[9], ARGV[10] " \
	"if exp == '0' then exp = r[2] " \
	"ttl = string.format('%.0f', (tonumber(r[2]) - now) * 1000) end " \
	"local d, dh = k, ARGV[2] " \
	"if ARGV[3] ~= '' then " \
	"d, dh = KEYS[2], ARGV[3] " \
	"local o = redis.call('HMGET', d, 'expires', 'user') " \
	"if o[1] and tonumber(o[1]) > now then return 1 end " \
	"if o[1] then " \
	"if o[2] then redis.call('ZREM', p..'u:'..o[2], dh) end " \
	"redis.call('DEL', d) end " \
	"redis.call('RENAME', k, d) end " \
	"if r[3] then redis.call('ZREM', p..'u:'..r[3], ARGV[2]) end " \
	"redis.call('HSET', d, 'state', ARGV[6], 'version', ARGV[5], " \
	"'last_seen', ARGV[8], 'expires', exp) " \
	"if ARGV[7] ~= '' then redis.call('HSET', d, 'user', ARGV[7]) " \
	"index_add(p..'u:'..ARGV[7], exp, dh, ttl) " \
	"else redis.call('HDEL', d, 'user') end " \
	"redis.call('PEXPIRE', d, ttl) " \
	"return 0"

#endif /* CRUMB_STORE_REDIS_LUA_H */
