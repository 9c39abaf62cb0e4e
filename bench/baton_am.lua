-- baton POST /api/v1/integrations/alertmanager/bench-key: Alertmanager webhook v4
-- notifications of 100 alerts over 10 groups (each group one incident; repeats dedupe).
local c = dofile((os.getenv("BENCH_DIR") or "bench") .. "/wrk_common.lua")
local bodies = {}
for g = 0, 9 do
  local alerts = {}
  for k = 0, 99 do
    alerts[#alerts + 1] = string.format(
      '{"status":"firing","labels":{"alertname":"BenchBatch%d","instance":"host-%d:9100","severity":"critical"},' ..
      '"annotations":{"summary":"Error rate above 5%% on host-%d"},"startsAt":"2026-11-24T01:01:04.042663Z",' ..
      '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"%016x"}', g, k, k, g * 1000 + k)
  end
  bodies[#bodies + 1] = string.format(
    '{"receiver":"baton","status":"firing","alerts":[%s],"groupLabels":{"alertname":"BenchBatch%d"},' ..
    '"commonLabels":{"alertname":"BenchBatch%d","severity":"critical"},"commonAnnotations":{},' ..
    '"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{}:{alertname=\\"BenchBatch%d\\"}",' ..
    '"truncatedAlerts":0}', table.concat(alerts, ","), g, g, g)
end
request = c.rotation("/api/v1/integrations/alertmanager/bench-key", bodies)
done = c.done
