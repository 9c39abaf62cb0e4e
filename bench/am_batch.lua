-- Alertmanager 0.25 /api/v2/alerts: 100 alerts per request over 10 groups (alertnames).
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_common.lua")
local bodies = {}
for g = 0, 9 do
  local alerts = {}
  for k = 0, 99 do
    alerts[#alerts + 1] = string.format(
      '{"labels":{"alertname":"BenchBatch%d","instance":"host-%d:9100","severity":"critical"},' ..
      '"annotations":{"summary":"Error rate above 5%% on host-%d"},"generatorURL":"http://prom/graph"}', g, k, k)
  end
  bodies[#bodies + 1] = "[" .. table.concat(alerts, ",") .. "]"
end
request = c.rotation("/api/v2/alerts", bodies)
done = c.done
