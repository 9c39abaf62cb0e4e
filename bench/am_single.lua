-- Alertmanager 0.25 /api/v2/alerts: one alert per request over 100 label sets.
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_common.lua")
local bodies = {}
for k = 0, 99 do
  bodies[#bodies + 1] = string.format(
    '[{"labels":{"alertname":"BenchSingle","instance":"host-%d:9100","severity":"critical"},' ..
    '"annotations":{"summary":"Error rate above 5%% on host-%d"},"generatorURL":"http://prom/graph"}]', k, k)
end
request = c.rotation("/api/v2/alerts", bodies)
done = c.done
