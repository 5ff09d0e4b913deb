-- wrk-paced.lua: wrk-signed.lua at a fixed offered rate (bench/bench-flood.sh).
--
--   wrk -s bench/wrk-paced.lua URL -- DIR THREADS API_KEY RUNTAG keep RATE
--
-- The first five arguments are wrk-signed.lua's ("keep": keep-alive
-- connections).  RATE is requests a second for all threads together: each
-- thread hands out send slots 1/(RATE/THREADS) s apart through wrk's
-- delay() hook, to whichever of its connections asks next.  A slot that
-- has passed is not made up for in a burst: when the server (or the
-- network) cannot keep up, fewer requests go out, and the rate wrk reports
-- is what was answered.  Latency is measured from the moment a request is
-- written, as wrk does.

local here = debug.getinfo(1, "S").source:match("^@?(.*/)") or "./"
dofile(here .. "wrk-signed.lua")

local ffi = require("ffi")
ffi.cdef [[
	struct sg_timespec { long tv_sec; long tv_nsec; };
	int clock_gettime(int clk, struct sg_timespec *tp);
]]
local ts = ffi.new("struct sg_timespec")

local function now_ms()
	ffi.C.clock_gettime(1, ts)	-- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local signed_init = init
local interval, slot

function init(args)
	interval = 1000 / (tonumber(args[6]) / tonumber(args[2]))
	signed_init(args)
end

function delay()
	local t = now_ms()
	if slot == nil or slot < t then
		slot = t
	end
	local d = slot - t
	slot = slot + interval
	return math.floor(d)
end
