-- wrk script of bench/dispatch: replays the heartbeat requests heartbeat_requests.py pre-built, each
-- once and in the file's order (the bytes pilots.py's heartbeat mode sends).
--
--   wrk -t1 -cC -dDs --timeout 30s -s wrk_heartbeat.lua http://127.0.0.1:PORT/ -- FILE
--
-- FILE: a line "wrk-heartbeat-requests 1 N", then N + 1 records "<length>\n<bytes>": first the request
-- sent once the N requests ran out (isAlive, no effect on the database), then the N requests.
-- request() never wraps around: after the N-th request it stops the thread and sends the idle
-- request, and done() reports how many requests wrk asked for, so the harness refuses a step that ran
-- dry. No response() function: without one wrk does not collect the answers' headers and bodies.
-- done() prints one JSON line starting with {"wrk_heartbeat": for the harness.

-- setup() and done() run in wrk's main environment, request() in the thread's: the thread's counters
-- are globals so that done() can read them with thread:get().
threads = {}
bodies = 0 -- pre-built requests loaded
sent = 0 -- requests handed to wrk (bodies + 1 or more: ran dry)

local requests = {}
local idle = nil
local checked = false

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   local file = assert(io.open(path, "rb"))
   local version, count = file:read("*l"):match("^wrk%-heartbeat%-requests (%d+) (%d+)$")
   assert(version == "1", "not a heartbeat request file: " .. path)
   count = tonumber(count)
   for i = 0, count do
      local length = tonumber(file:read("*l"))
      local data = file:read(length)
      assert(data and #data == length, "truncated heartbeat request file: " .. path)
      if i == 0 then
         idle = data
      else
         requests[i] = data
      end
   end
   file:close()
   bodies = count
end

function request()
   if not checked then
      -- wrk calls request() once before the run to check what it returns; that request is not sent.
      checked = true
      return requests[1] or idle
   end
   sent = sent + 1
   local data = requests[sent]
   if data then
      return data
   end
   wrk.thread:stop()
   return idle
end

function done(summary, latency, _)
   local total_bodies, total_sent = 0, 0
   for _, thread in ipairs(threads) do
      total_bodies = total_bodies + thread:get("bodies")
      total_sent = total_sent + thread:get("sent")
   end
   local e = summary.errors
   io.write(string.format(
      '{"wrk_heartbeat": 1, "threads": %d, "bodies": %d, "sent": %d, "requests": %d, "bytes": %d, '
         .. '"duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "p50": %d, "p99": %d, "max": %d}}\n',
      #threads, total_bodies, total_sent, summary.requests, summary.bytes, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(99), latency.max
   ))
end
