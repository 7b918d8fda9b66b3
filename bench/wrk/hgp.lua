-- wrk script for the HighGoPress bench (bench/wrk.ts drives it).
--
--   wrk -t T -c C -d CAP -s hgp.lua URL -- REQUESTS_FILE TOTAL UNUSED OUT_JSON T
--
-- REQUESTS_FILE: one request per line, "METHOD\tPATH\tBODY". One line means
-- every request is that one; otherwise thread t of T sends lines t, t+T, ...
-- Exactly TOTAL requests are sent (split over the threads). A thread that has
-- sent its share gives each connection that asks for another request an
-- empty one (the connection then stays idle). A connection asks for its next
-- request only once its previous answer is complete, so when every
-- connection of the thread has asked once more, every answer is in: the
-- thread stops and prints "HGP_THREAD_DONE" on stderr so the driver can end
-- wrk at once (wrk itself would sleep until -d).
-- There is deliberately no response() callback: with one, wrk 4.1 starves
-- some connections for seconds at 500 connections (P99 2-4 s against a bare
-- server that answers in 30 ms without it). Status errors come from wrk's own
-- count (status > 399).
-- done() writes OUT_JSON: latency (µs), wrk's error counts, per-thread counts
-- and monotonic start/end times.

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
reqs, nreqs, quota, conns = {}, 0, 0, 0
issued, idle, t0, t1 = 0, 0, 0, 0
-- wrk calls request() once on the first thread to check the script before
-- any connection exists; that call must not count.
local verify_pending = false

function init(args)
  local file, total = args[1], tonumber(args[2])
  out_path = args[4] -- a global: done() runs in the main state and reads it from thread 1
  -- the thread count is only known in the main state; the driver passes it
  local nthreads = tonumber(args[5])
  quota = math.floor(total / nthreads) + ((tid - 1 < total % nthreads) and 1 or 0)
  -- wrk gives each thread connections / threads connections
  conns = math.floor(tonumber(args[6]) / nthreads)
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
  if issued >= quota then
    idle = idle + 1
    if idle == conns then
      t1 = now()
      io.stderr:write("HGP_THREAD_DONE " .. tid .. "\n")
      wrk.thread:stop()
    end
    return ""
  end
  issued = issued + 1
  if issued == 1 then t0 = now() end
  return reqs[(issued - 1) % nreqs + 1]
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
  for i, t in ipairs(threads) do
    if i > 1 then f:write(",") end
    f:write('{"tid":', i, ',"quota":', t:get("quota"), ',"issued":', t:get("issued"), ',"idle":', t:get("idle"),
      ',"conns":', t:get("conns"), ',"t0":', num(t:get("t0")), ',"t1":', num(t:get("t1")), '}')
  end
  f:write("]}\n")
  f:close()
end
