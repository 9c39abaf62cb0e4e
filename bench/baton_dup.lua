-- baton POST /v2/enqueue: one Events v2 trigger per request, dedup keys over 100
-- open incidents (run.sh opens them first), so every request deduplicates.
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_common.lua")
local bodies = {}
for k = 0, 99 do
  bodies[#bodies + 1] = string.format(
    '{"routing_key":"bench-key","event_action":"trigger","dedup_key":"dup-%d","payload":' ..
    '{"summary":"Error rate above 5%% on host-%d","source":"host-%d:9100","severity":"critical",' ..
    '"custom_details":{"error_rate":0.07}}}', k, k, k)
end
request = c.rotation("/v2/enqueue", bodies)
done = c.done
