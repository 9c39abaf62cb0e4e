-- baton POST /v2/enqueue: every request a new dedup key, so each opens an incident
-- and pages (webhook to bench_sink). BENCH_PREFIX keeps keys unique across runs.
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_common.lua")
local prefix = os.getenv("BENCH_PREFIX") or "new"
local i = 0
request = function()
  i = i + 1
  local body = string.format(
    '{"routing_key":"bench-key","event_action":"trigger","dedup_key":"%s-%d","payload":' ..
    '{"summary":"New incident %d","source":"host-%d:9100","severity":"critical"}}', prefix, i, i, i % 1000)
  return wrk.format("POST", "/v2/enqueue", {["Content-Type"] = "application/json", ["Host"] = "127.0.0.1"}, body)
end
done = c.done
