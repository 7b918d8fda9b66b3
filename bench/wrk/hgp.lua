-- wrk script for the HighGoPress bench (bench/wrk.ts drives it).
--
--   wrk -t T -c C -d CAP -s hgp.lua URL -- REQUESTS_FILE TOTAL TALLY OUT_JSON
--
-- REQUESTS_FILE: one request per line, "METHOD\tPATH\tBODY". One line means
-- every request is that one; otherwise thread t of T sends lines t, t+T, ...
-- Exactly TOTAL requests are sent (split over the threads); a thread that
-- has sent its share gives its idle connections an empty request, stops when
-- its last answer arrives, and prints "HGP_THREAD_DONE" on stderr so the
-- driver can end wrk at once (wrk itself would sleep until -d).
-- TALLY=1: 2xx bodies are scanned for "resource_id":"..." and counted per id,
-- so the bench knows exactly which increments were acknowledged.
-- done() writes OUT_JSON: latency (µs), wrk's error counts, per-thread counts
-- and monotonic start/end times, and the acknowledged ids.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } hgp_timespec;
  int clock_gettime(int clk_id, hgp_timespec *tp);
]]
local ts = ffi.new("hgp_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main state: the thread handles, to read their results in done()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- thread state (globals so done() can read them with thread:get)
reqs, nreqs, quota, tally = {}, 0, 0, false
issued, got, ok, bad, t0, t1 = 0, 0, 0, 0, 0, 0
statuses, acked = {}, {}
-- wrk calls request() once on the first thread to check the script before
-- any connection exists; that call must not count.
local verify_pending = false

function init(args)
  local file, total = args[1], tonumber(args[2])
  tally = args[3] == "1"
  out_path = args[4] -- a global: done() runs in the main state and reads it from thread 1
  -- the thread count is only known in the main state; the driver passes it
  local nthreads = tonumber(args[5])
  quota = math.floor(total / nthreads) + ((tid - 1 < total % nthreads) and 1 or 0)
  local lines = {}
  for line in io.lines(file) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  local function build(line)
    local method, path, body = line:match("^([A-Z]+)\t([^\t]*)\t?(.*)$")
    if body ~= nil and body ~= "" then
      return wrk.format(method, path, { ["Content-Type"] = "application/json" }, body)
    end
    return wrk.format(method, path, {})
  end
  if #lines == 1 then
    reqs[1] = build(lines[1])
  else
    for i = tid, #lines, nthreads do reqs[#reqs + 1] = build(lines[i]) end
  end
  nreqs = #reqs
  verify_pending = (tid == 1)
end

function request()
  if verify_pending then
    verify_pending = false
    return reqs[1]
  end
  if issued >= quota then return "" end
  issued = issued + 1
  if issued == 1 then t0 = now() end
  return reqs[(issued - 1) % nreqs + 1]
end

function response(status, headers, body)
  got = got + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
    if tally then
      for id in body:gmatch('"resource_id":"([^"]*)"') do acked[id] = (acked[id] or 0) + 1 end
    end
  else
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
  if got == quota then
    t1 = now()
    io.stderr:write("HGP_THREAD_DONE " .. tid .. "\n")
    wrk.thread:stop()
  end
end

local function num(x) return string.format("%.6f", x or 0) end

function done(summary, latency, requests)
  local f = assert(io.open(threads[1]:get("out_path"), "w"))
  local e = summary.errors
  f:write('{"requests":', summary.requests, ',"errors":{"connect":', e.connect, ',"read":', e.read,
    ',"write":', e.write, ',"status":', e.status, ',"timeout":', e.timeout, '}')
  f:write(',"latency_us":{"mean":', num(latency.mean), ',"stdev":', num(latency.stdev), ',"max":', latency.max)
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    f:write(',"p', tostring(p), '":', latency:percentile(p))
  end
  f:write('},"threads":[')
  local merged = {}
  for i, t in ipairs(threads) do
    if i > 1 then f:write(",") end
    f:write('{"tid":', i, ',"quota":', t:get("quota"), ',"issued":', t:get("issued"), ',"got":', t:get("got"),
      ',"ok":', t:get("ok"), ',"bad":', t:get("bad"), ',"t0":', num(t:get("t0")), ',"t1":', num(t:get("t1")), ',"statuses":{')
    local first = true
    for code, n in pairs(t:get("statuses")) do
      f:write(first and "" or ",", '"', code, '":', n)
      first = false
    end
    f:write("}}")
    for id, n in pairs(t:get("acked")) do merged[id] = (merged[id] or 0) + n end
  end
  f:write('],"acked":{')
  local first = true
  for id, n in pairs(merged) do
    f:write(first and "" or ",", '"', id, '":', n)
    first = false
  end
  f:write("}}\n")
  f:close()
end
