-- The one wrk script of `make bench` (tests/src/bin/latchkey-bench/wrk.rs writes it to a
-- scratch file and runs `wrk -s <it> <url> -- METHOD BODY WANT KEYS OFFSET THREADS`).
--
--   METHOD  GET or POST
--   BODY    a urlencoded form body, or "" for none
--   WANT    the status every answer must have; 0: any status below 400 (wrk's own count)
--   KEYS    a file of Authorization header values, one per line, or "" for none; each thread
--           prepares its share of them (every NTHREADS-th from OFFSET, wrapping once) and
--           sends them in turn
--   OFFSET  where the rotation over KEYS starts (so passes continue where the last one ended)
--   THREADS wrk's thread count (-t), the stride of each thread's share of KEYS
--
-- done() prints one line `WRK_JSON {...}` with the counts and latency percentiles (µs).

local threads = {}
local nthreads = 0

function setup(thread)
   nthreads = nthreads + 1
   thread:set("id", nthreads)
   table.insert(threads, thread)
end

want = 0
bad = 0
local reqs = nil
local n = 0
local i = 0

local function read_keys(path)
   local keys = {}
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      if line ~= "" then keys[#keys + 1] = line end
   end
   f:close()
   return keys
end

function init(args)
   wrk.method = args[1]
   if args[2] ~= nil and args[2] ~= "" then
      wrk.body = args[2]
      wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   end
   want = tonumber(args[3]) or 0
   if args[4] ~= nil and args[4] ~= "" then
      local keys = read_keys(args[4])
      local offset = tonumber(args[5]) or 0
      local stride = math.max(tonumber(args[6]) or 1, 1)
      local total = #keys
      reqs = {}
      local k = 0
      while k * stride < total do
         local idx = (offset + (id - 1) + k * stride) % total
         reqs[#reqs + 1] = wrk.format(nil, nil, {
            Host = wrk.headers["Host"],
            Authorization = keys[idx + 1],
         }, nil)
         k = k + 1
      end
      n = #reqs
      request = function()
         i = i + 1
         if i > n then i = 1 end
         return reqs[i]
      end
   end
   if want ~= 0 then
      response = function(status, headers, body)
         if status ~= want then bad = bad + 1 end
      end
   end
end

function done(summary, latency, requests)
   local unexpected = 0
   for _, t in ipairs(threads) do
      unexpected = unexpected + (t:get("bad") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
      '"status":%d,"timeout":%d,"unexpected":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      unexpected, latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0),
      latency.max))
end
