-- wrk-signed.lua: signed Stream push webhooks for wrk (bench/bench-daemon.sh).
--
-- wrk's LuaJIT has no HMAC, so bench-daemon.sh precomputes the bodies and
-- their signatures into DIR:
--   DIR/template  the body's fixed pieces, one per line (compact JSON has no
--                 newline); the body is piece1 .. var1 .. piece2 .. var2 ...
--   DIR/vars      one signed body a line: "signature<TAB>var1<TAB>var2..."
-- Thread k of T takes the lines whose index is k modulo T and cycles through
-- them.  X-Webhook-Id is not signed (the signature covers the body only): it
-- is made here, fresh for every request, as Stream makes it: a random
-- version 4 UUID (8-4-4-4-12 lower-case hex, version nibble 4, variant
-- 8-b).  An id that grows with a counter would land every insert at one end
-- of whatever the store keeps its ids in; Stream's do not.  Each thread has
-- its own LuaJIT generator, seeded with RUNTAG and the thread's number, so
-- two threads or two runs (a new RUNTAG) do not send the same ids; 122
-- random bits make a repeat within a run as good as impossible.
--
--   wrk -s bench/wrk-signed.lua URL -- DIR THREADS API_KEY RUNTAG(8 hex) [close]
--
-- With "close", every request carries "Connection: close": the server
-- closes after answering and wrk connects again, so each request is a new
-- TCP connection (and over https a new TLS handshake, resumed with the
-- previous connection's session, which wrk's SSL_clear keeps).
--
-- done() prints one line for the script to parse:
--   SG_RESULT requests= duration_us= rps= p50_us= p99_us= ok= non200= sent= ...
-- ok counts 200 answers; sent counts request() calls (an upper bound on what
-- was sent: wrk calls request() once more to check the script, and a
-- request may be in flight when the run stops).

local threads = {}
local nseen = 0

function setup(thread)
	thread:set("tid", nseen)
	nseen = nseen + 1
	threads[#threads + 1] = thread
end

local pieces, gaps = {}, {}
local sigs, vars = {}, {}
local n, i = 0, 0
local parts = {}
local hdrs
local random = math.random

-- read by done() through thread:get()
ok, non200, sent, wraps = 0, 0, 0, 0
bystatus = {}

function init(args)
	local dir, nthreads = args[1], tonumber(args[2])
	-- LuaJIT's math.random is a Tausworthe generator per Lua state (one
	-- per wrk thread); its seed is a double, so this one is exact
	math.randomseed(tonumber(args[4], 16) * 4096 + tid + 1)
	random(); random()	-- let the first outputs mix the seed
	hdrs = {
		["Content-Type"] = "application/json",
		["X-Api-Key"] = args[3],
		["X-Webhook-Attempt"] = "1",
	}
	if args[5] == "close" then
		hdrs["Connection"] = "close"
	end
	assert(tid < nthreads)
	local f = assert(io.open(dir .. "/template", "r"))
	for g in f:read("*l"):gmatch("%d+") do gaps[#gaps + 1] = tonumber(g) end
	for line in f:lines() do pieces[#pieces + 1] = line end
	f:close()
	assert(#pieces == #gaps + 1, "template: pieces and gaps do not fit")
	f = assert(io.open(dir .. "/vars." .. tid, "r"))
	for line in f:lines() do
		local fields = {}
		for fld in line:gmatch("[^\t]+") do fields[#fields + 1] = fld end
		n = n + 1
		sigs[n] = table.remove(fields, 1)
		vars[n] = fields
	end
	f:close()
	assert(n > 0, "no signed bodies for thread " .. tid)
end

function request()
	i = i + 1
	if i > n then i = 1; wraps = wraps + 1 end
	sent = sent + 1
	local v = vars[i]
	local np = #pieces
	for j = 1, np - 1 do
		parts[2 * j - 1] = pieces[j]
		parts[2 * j] = v[gaps[j]]
	end
	parts[2 * np - 1] = pieces[np]
	hdrs["X-Webhook-Id"] = string.format("%08x-%04x-4%03x-%04x-%06x%06x",
		random(0, 0xffffffff), random(0, 0xffff), random(0, 0xfff),
		0x8000 + random(0, 0x3fff), random(0, 0xffffff),
		random(0, 0xffffff))
	hdrs["X-Signature"] = sigs[i]
	return wrk.format("POST", nil, hdrs, table.concat(parts, "", 1, 2 * np - 1))
end

function response(status, headers, body)
	if status == 200 then
		ok = ok + 1
	else
		non200 = non200 + 1
		bystatus[status] = (bystatus[status] or 0) + 1
	end
end

function done(summary, latency, requests)
	local tok, tnon, tsent, twraps = 0, 0, 0, 0
	local by = {}
	for _, t in ipairs(threads) do
		tok = tok + t:get("ok")
		tnon = tnon + t:get("non200")
		tsent = tsent + t:get("sent")
		twraps = twraps + t:get("wraps")
		for st, c in pairs(t:get("bystatus")) do by[st] = (by[st] or 0) + c end
	end
	local other = {}
	for st, c in pairs(by) do other[#other + 1] = st .. ":" .. c end
	local e = summary.errors
	io.write(string.format(
		"SG_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
		"ok=%d non200=%d sent=%d wraps=%d err_connect=%d err_read=%d " ..
		"err_write=%d err_timeout=%d err_status=%d statuses=%s\n",
		summary.requests, summary.duration,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max, tok, tnon, tsent, twraps, e.connect, e.read, e.write,
		e.timeout, e.status, #other > 0 and table.concat(other, ",") or "-"))
end
