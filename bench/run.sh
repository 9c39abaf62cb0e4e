#!/usr/bin/env bash
# Runs every baton benchmark and writes the figures into docs/benchmarks.md.
#   bash bench/run.sh            # the full run (about 4 minutes on 2 cores)
# Environment: BENCH_DURATION (s per wrk shape, default 10), BENCH_N (open incidents,
# default 100000), BENCH_OUT (work dir, default a new /tmp dir), BENCH_WAIT_BATON
# (seconds to wait for build/bot/baton when it cannot be built here, default 0),
# BENCH_NO_DOC=1 (do not touch docs/benchmarks.md), BENCH_FALLBACK_N / BENCH_FALLBACK_WINDOW
# (fallback-chain deadlines and window in s, default 2000 over 20), BENCH_FALLBACK_PACED (SMS
# pages due at once for the pacing run, default 30), BENCH_ONLY=fallback (build and run only
# bench_fallback, about 2 minutes, and rewrite only the doc's fallback-chain figures).
# BENCH_ONLY=slack: build baton and the Slack peer, run only the Slack stage (bench/slack.sh, about
# 4 minutes; knobs there) and rewrite only the doc's Slack figures.
# BENCH_ONLY=outage: build baton, bench_sink, bench_load, bench_slack_peer and bench_smtp_sink, run only
# the outage stage (bench/outage.sh: slow webhook vs Alertmanager, channel down, memory with 10,000 in
# flight, idle wake-ups, time to first page, slow Slack / Twilio / SMTP providers; about 5 minutes;
# knobs there) and rewrite only the doc's outage-scale figures.
# BENCH_ONLY=report: build bench_report, time the response report (docs/reports.md) over a year of 100
# incidents a day on SQLite and on a throwaway PostgreSQL cluster (about 2 minutes); prints figures only.
# BENCH_BUILD: the build directory (default build-bench).
# BENCH_ONLY=ha: build baton, bench_sink and bench_load, run only the high-availability stage
# (bench/ha.sh: intake on PostgreSQL with 1 and 3 instances vs SQLite and Alertmanager, takeover
# time over 10 SIGKILLs of the owner, duplicates after a takeover; its own throwaway PostgreSQL
# cluster; about 4 minutes; knobs there) and rewrite only the doc's high-availability figures.
# Loopback only; every load loop is bounded in count and time; nothing asserts on time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
export BENCH_DIR=$ROOT/bench
OUT=${BENCH_OUT:-$(mktemp -d /tmp/baton-bench.XXXXXX)}
DUR=${BENCH_DURATION:-10}
N=${BENCH_N:-100000}
RESULTS=$OUT/results.txt
FB_N=${BENCH_FALLBACK_N:-2000} FB_WINDOW=${BENCH_FALLBACK_WINDOW:-20} FB_PACED=${BENCH_FALLBACK_PACED:-30}
BATON_PORT=18080 SINK_PORT=18090 AM_PORT=19093
mkdir -p "$OUT"
: > "$RESULTS"

PIDS=()
CLEANUP_HOOKS=()  # functions run at exit after the processes are stopped (ha.sh: its PostgreSQL cluster)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for h in "${CLEANUP_HOOKS[@]}"; do "$h" || true; done
}
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }
put() { echo "$1 $2" >> "$RESULTS"; log "$1 = $2"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# wait_http URL SECONDS: poll until it answers 2xx (bounded).
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}
metric() { { curl -sf "http://127.0.0.1:$BATON_PORT/metrics" || true; } | awk -v m="$1" '$1 == m {v = $2} END {printf "%d", v + 0}'; }
# bench_config_head DB DURABILITY: the server and storage sections of a generated bench
# configuration (baton on 127.0.0.1:$BATON_PORT, database ./DB); used by slack.sh and outage.sh.
bench_config_head() {
  cat <<EOF
server:
  listen: "127.0.0.1:$BATON_PORT"
  action_secret: "bench-only-action-secret"
  api_tokens:
    - {name: bench, token: bench-only-token}
storage:
  path: ./$1
  durability: $2
EOF
}
# bench_owner_policies N: escalation policies pol0..pol<N-1>, each paging only person p<i>.
bench_owner_policies() {
  local i
  echo "escalation_policies:"
  for i in $(seq 0 $(($1 - 1))); do
    echo "  pol$i: {name: Policy $i, steps: [{targets: [{person: p$i}], timeout: 1h}]}"
  done
}
# wrk_run NAME URL SCRIPT: one wrk run (1 thread, 16 keep-alive connections).
wrk_run() {
  local name=$1 url=$2 script=$3
  wrk -t1 -c16 -d"${DUR}s" --timeout 10s -s "$BENCH_DIR/$script" "$url" > "$OUT/wrk-$name.txt" 2>&1 || true
  local line
  line=$(grep '^WRK ' "$OUT/wrk-$name.txt" || echo "WRK requests 0 duration_us 1 socket_errors 0 non2xx 0 p50_us 0 p99_us 0")
  read -r _ _ req _ dur _ serr _ n2 _ p50 _ p99 <<< "$line"
  put "${name}_req_per_s" "$(awk -v r="$req" -v d="$dur" 'BEGIN {printf "%.0f", r / (d / 1e6)}')"
  put "${name}_errors" "$((serr + n2))"
  put "${name}_p50_ms" "$(awk -v v="$p50" 'BEGIN {printf "%.2f", v / 1000}')"
  put "${name}_p99_ms" "$(awk -v v="$p99" 'BEGIN {printf "%.2f", v / 1000}')"
}

# run_fallback: the fallback chain (engine -> Dispatcher -> SMTP / Twilio sinks, in one
# process): lateness of FB_N deadlines over FB_WINDOW s (SMS paced at 100/s), then Twilio
# pacing at 1 msg/s per sender (FB_PACED pages at once; one and two senders; pages vs updates).
run_fallback() {
  log "bench_fallback ($FB_N deadlines over ${FB_WINDOW}s, $FB_PACED paced SMS; about $((FB_WINDOW + 70))s)"
  "$B/bench_fallback" "$FB_N" "$FB_WINDOW" 100 "$FB_PACED" | tee "$OUT/fallback.txt" >> "$RESULTS"
}

# run_slack: the Slack stage (baton serve -> bench_slack_peer, a local Slack Web API).
. "$BENCH_DIR/slack.sh"
# run_outage: the outage stage (baton serve -> bench_sink answering slowly; Alertmanager side by side).
. "$BENCH_DIR/outage.sh"
# run_ha: the high-availability stage (several baton serve on a throwaway PostgreSQL).
. "$BENCH_DIR/ha.sh"

# ---------------------------------------------------------------- build
log "building (Release, -j1) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF -DBATON_BUILD_BENCH=ON > "$OUT/cmake.log"
B=$BUILD/bench
if [ "${BENCH_ONLY:-}" = fallback ]; then
  cmake --build "$BUILD" -j1 --target bench_fallback > "$OUT/build.log"
  run_fallback
  log "results in $RESULTS"
  if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
    python3 "$BENCH_DIR/report.py" "$RESULTS" "$ROOT/docs/benchmarks.md" "$OUT" fallback
    log "docs/benchmarks.md updated (fallback chain only)"
  fi
  exit 0
fi
if [ "${BENCH_ONLY:-}" = slack ]; then
  cmake --build "$BUILD" -j1 --target baton bench_load bench_slack_peer > "$OUT/build.log"
  BATON=$BUILD/bot/baton
  run_slack
  log "results in $RESULTS"
  if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
    python3 "$BENCH_DIR/report.py" "$RESULTS" "$ROOT/docs/benchmarks.md" "$OUT" slack
    log "docs/benchmarks.md updated (Slack only)"
  fi
  exit 0
fi
if [ "${BENCH_ONLY:-}" = outage ]; then
  cmake --build "$BUILD" -j1 --target baton bench_sink bench_load bench_slack_peer bench_smtp_sink > "$OUT/build.log"
  BATON=$BUILD/bot/baton
  run_outage
  log "results in $RESULTS"
  if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
    python3 "$BENCH_DIR/report.py" "$RESULTS" "$ROOT/docs/benchmarks.md" "$OUT" outage
    log "docs/benchmarks.md updated (outage scale only)"
  fi
  exit 0
fi
if [ "${BENCH_ONLY:-}" = report ]; then
  nice -n 19 cmake --build "$BUILD" -j1 --target bench_report > "$OUT/build.log"
  log "bench_report: a year of 100 incidents a day on SQLite, then the report ${BENCH_REPORT_RUNS:-7} times per shape"
  "$B/bench_report" "$OUT/report.db" "${BENCH_REPORT_RUNS:-7}" | sed 's/=/ /' | tee -a "$RESULTS"
  if ha_pg_start; then  # the same throwaway PostgreSQL cluster as the high-availability stage
    ha_createdb baton_report
    log "bench_report on PostgreSQL $(ha_psql "$(ha_uri postgres)" "SHOW server_version")"
    "$B/bench_report" "$HA_DB" "${BENCH_REPORT_RUNS:-7}" | sed 's/=/ /' | tee -a "$RESULTS"
  fi
  log "results in $RESULTS (docs/benchmarks.md, \"Response report\", is written by hand)"
  exit 0
fi
if [ "${BENCH_ONLY:-}" = ha ]; then
  nice -n 19 cmake --build "$BUILD" -j1 --target baton bench_sink bench_load > "$OUT/build.log"
  BATON=$BUILD/bot/baton
  run_ha
  log "results in $RESULTS"
  if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
    python3 "$BENCH_DIR/report.py" "$RESULTS" "$ROOT/docs/benchmarks.md" "$OUT" ha
    log "docs/benchmarks.md updated (high availability only)"
  fi
  exit 0
fi
cmake --build "$BUILD" -j1 --target bench_engine bench_restart bench_storage bench_sink bench_load bench_fallback \
  bench_smtp_sink > "$OUT/build.log"
BATON=""
if cmake --build "$BUILD" -j1 --target baton >> "$OUT/build.log" 2>&1 && [ -x "$BUILD/bot/baton" ]; then
  BATON=$BUILD/bot/baton
else
  log "baton did not build in $BUILD; waiting up to ${BENCH_WAIT_BATON:-0}s for $ROOT/build/bot/baton"
  deadline=$((SECONDS + ${BENCH_WAIT_BATON:-0}))
  while :; do
    [ -x "$ROOT/build/bot/baton" ] && { BATON=$ROOT/build/bot/baton; break; }
    [ $SECONDS -lt $deadline ] || break
    sleep 120
  done
fi

# ---------------------------------------------------------------- in-process benches
log "bench_engine ($N open incidents)"
"$B/bench_engine" "$N" 10 | tee "$OUT/engine.txt" >> "$RESULTS"
log "bench_storage"
"$B/bench_storage" "$OUT" 50000 300 | tee "$OUT/storage.txt" >> "$RESULTS"
log "bench_restart ($N open incidents)"
rm -f "$OUT/restart.db"*
"$B/bench_restart" create "$OUT/restart.db" "$N" | tee "$OUT/restart-create.txt" >> "$RESULTS"
for i in 1 2 3; do "$B/bench_restart" restart "$OUT/restart.db" > "$OUT/restart-$i.txt"; done
# Report the median run of the three.
median=$(for i in 1 2 3; do awk -v i=$i '$1 == "restart_total_ms" {print $2, i}' "$OUT/restart-$i.txt"; done | sort -n | sed -n 2p | cut -d' ' -f2)
cat "$OUT/restart-$median.txt" >> "$RESULTS"
run_fallback

if [ -z "$BATON" ]; then
  log "no baton executable: HTTP benchmarks skipped"
  put http_skipped yes
else
  put baton_binary "${BATON#"$ROOT"/}"
  # ---------------------------------------------------------------- Alertmanager 0.25
  if [ -x /usr/bin/prometheus-alertmanager ]; then
    log "Alertmanager on 127.0.0.1:$AM_PORT"
    mkdir -p "$OUT/am-data"
    /usr/bin/prometheus-alertmanager --config.file="$BENCH_DIR/alertmanager.yml" --storage.path="$OUT/am-data" \
      --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address= \
      --web.external-url=http://127.0.0.1:$AM_PORT --log.level=warn > "$OUT/alertmanager.log" 2>&1 &
    AM_PID=$!
    PIDS+=("$AM_PID")
    wait_http "http://127.0.0.1:$AM_PORT/-/ready" 30
    put am_idle_rss_kib "$(rss_kib $AM_PID)"
    wrk_run am_single "http://127.0.0.1:$AM_PORT" am_single.lua
    wrk_run am_batch "http://127.0.0.1:$AM_PORT" am_batch.lua
    put am_batch_alerts_per_s "$(awk '$1 == "am_batch_req_per_s" {print $2 * 100}' "$RESULTS")"
    put am_rss_kib "$(rss_kib $AM_PID)"
    kill "$AM_PID"; wait "$AM_PID" 2>/dev/null || true
  fi

  # ---------------------------------------------------------------- baton serve
  start_baton() {  # start_baton DB: sink + baton; sets SINK_PID BATON_PID
    "$B/bench_sink" $SINK_PORT "$OUT/sink-$2.log" > "$OUT/sink-$2.out" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    BENCH_SINK_URL=http://127.0.0.1:$SINK_PORT/hook "$BATON" serve --config "$BENCH_DIR/baton-bench.yaml" \
      --listen 127.0.0.1:$BATON_PORT --db "$1" > "$OUT/baton-$2.log" 2>&1 &
    BATON_PID=$!
    PIDS+=("$BATON_PID")
  }
  stop_baton() {
    kill "$BATON_PID"; wait "$BATON_PID" 2>/dev/null || true
    kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
  }
  # wait_settled METRIC SECONDS: until the metric stops changing for 1 s (bounded).
  wait_settled() {
    local prev=-1 cur deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
      cur=$(metric "$1"); cur=${cur:-0}
      [ "$cur" = "$prev" ] && break
      prev=$cur
      sleep 1
    done
  }
  PAGES='baton_notifications_total{channel="webhook",result="delivered"}'
  TRIGGERED='baton_incidents{state="triggered"}'

  log "baton serve (fresh database)"
  start_baton "$OUT/serve.db" main
  wait_http "http://127.0.0.1:$BATON_PORT/readyz" 30
  sleep 2
  put baton_idle_rss_kib "$(rss_kib $BATON_PID)"

  # Target 1: open the 100 incidents, then deduplicate against them.
  for k in $(seq 0 99); do
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$BATON_PORT/v2/enqueue" -H 'Content-Type: application/json' \
      -d "{\"routing_key\":\"bench-key\",\"event_action\":\"trigger\",\"dedup_key\":\"dup-$k\",\"payload\":{\"summary\":\"Error rate above 5% on host-$k\",\"source\":\"host-$k:9100\",\"severity\":\"critical\"}}"
  done
  wrk_run baton_dup "http://127.0.0.1:$BATON_PORT" baton_dup.lua
  # Profile the same shape briefly (perf, when permitted).
  if command -v perf > /dev/null && [ "${BENCH_PERF:-1}" = 1 ]; then
    ( wrk -t1 -c16 -d5s -s "$BENCH_DIR/baton_dup.lua" "http://127.0.0.1:$BATON_PORT" > /dev/null 2>&1 & )
    perf record -F 999 -p "$BATON_PID" -o "$OUT/perf-dup.data" -- sleep 4 > /dev/null 2>&1 || true
    { perf report -i "$OUT/perf-dup.data" --sort dso --stdio 2> /dev/null | grep '%' | grep -v '^#' | head -8
      perf report -i "$OUT/perf-dup.data" --sort dso,symbol --stdio 2> /dev/null | grep '%' | grep -v '^#' | head -25
    } | sed 's/ *$//' | cut -c1-160 > "$OUT/perf-dup.txt" || true
    sleep 2
  fi

  # Target 2: Alertmanager webhook notifications of 100 alerts over 10 groups.
  wrk_run baton_am "http://127.0.0.1:$BATON_PORT" baton_am.lua
  put baton_am_alerts_per_s "$(awk '$1 == "baton_am_req_per_s" {print $2 * 100}' "$RESULTS")"

  # Target 3: new incidents, each paged through the webhook channel to the sink.
  before_open=$(metric "$TRIGGERED"); before_pages=$(metric "$PAGES")
  BENCH_PREFIX=new wrk_run baton_new "http://127.0.0.1:$BATON_PORT" baton_new.lua
  wait_settled "$PAGES" 120
  after_open=$(metric "$TRIGGERED"); after_pages=$(metric "$PAGES")
  put baton_new_incidents "$((${after_open%.*} - ${before_open%.*}))"
  put baton_new_pages_delivered "$((${after_pages%.*} - ${before_pages%.*}))"
  put baton_open_incidents "${after_open%.*}"
  sleep 2
  put baton_open_rss_kib "$(rss_kib $BATON_PID)"
  if command -v perf > /dev/null && [ "${BENCH_PERF:-1}" = 1 ]; then
    ( BENCH_PREFIX=perfnew wrk -t1 -c16 -d5s -s "$BENCH_DIR/baton_new.lua" "http://127.0.0.1:$BATON_PORT" > /dev/null 2>&1 & )
    perf record -F 999 -p "$BATON_PID" -o "$OUT/perf-new.data" -- sleep 4 > /dev/null 2>&1 || true
    { perf report -i "$OUT/perf-new.data" --sort dso --stdio 2> /dev/null | grep '%' | grep -v '^#' | head -8
      perf report -i "$OUT/perf-new.data" --sort dso,symbol --stdio 2> /dev/null | grep '%' | grep -v '^#' | head -25
    } | sed 's/ *$//' | cut -c1-160 > "$OUT/perf-new.txt" || true
    sleep 3
    wait_settled "$PAGES" 120
  fi

  # Target 4: time to first page at 1,000 new incidents/s, open loop; the sink
  # stamps arrivals, bench_load stamps intended send times (same clock).
  stop_baton
  start_baton "$OUT/ttfp.db" ttfp
  wait_http "http://127.0.0.1:$BATON_PORT/readyz" 30
  sleep 1
  "$B/bench_load" $BATON_PORT 1000 "$DUR" 16 "$OUT/ttfp-sent.txt" | tee -a "$RESULTS"
  wait_settled "$PAGES" 60
  curl -sf "http://127.0.0.1:$BATON_PORT/metrics" | grep '^baton_time_to_first_page' > "$OUT/ttfp-metrics.txt" || true
  stop_baton
  python3 - "$OUT/ttfp-sent.txt" "$OUT/sink-ttfp.log" "$OUT/ttfp-metrics.txt" >> "$RESULTS" <<'PY'
import sys, math
sent = {}
for line in open(sys.argv[1]):
    seq, intended, actual, status = line.split()
    sent[int(seq)] = int(intended)
first = {}
for line in open(sys.argv[2]):
    t, seq = map(int, line.split())
    if seq in sent and seq not in first:
        first[seq] = t
lat = sorted((first[s] - sent[s]) / 1e6 for s in first)
def pct(p):
    return lat[max(0, min(len(lat) - 1, math.ceil(p / 100 * len(lat)) - 1))] if lat else 0
print("ttfp_requests", len(sent))
print("ttfp_paged", len(lat))
print("ttfp_p50_ms %.2f" % pct(50))
print("ttfp_p99_ms %.2f" % pct(99))
print("ttfp_max_ms %.2f" % pct(100))
# The server's own histogram: the smallest bucket bound holding 99 %.
buckets, count = [], 0
for line in open(sys.argv[3]):
    if line.startswith("baton_time_to_first_page_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    elif line.startswith("baton_time_to_first_page_seconds_count"):
        count = float(line.split()[-1])
bound = next((le for le, c in buckets if count and c >= 0.99 * count), float("nan"))
print("ttfp_server_p99_bucket_ms %.1f" % (bound * 1000))
PY

  # Targets 6 and 7: restart on the bench_restart database (N open incidents, the
  # same service and policy ids as baton-bench.yaml): spawn -> /readyz answers.
  cp "$OUT/restart.db" "$OUT/serve-restart.db"
  t0=$(date +%s%N)
  start_baton "$OUT/serve-restart.db" restart
  wait_http "http://127.0.0.1:$BATON_PORT/readyz" 60
  t1=$(date +%s%N)
  put baton_restart_ready_ms "$(( (t1 - t0) / 1000000 ))"
  put baton_restart_restored "$(grep -o 'restored [0-9]* open incidents' "$OUT/baton-restart.log" | awk '{print $2}' | head -1)"
  sleep 2
  put baton_restart_rss_kib "$(rss_kib $BATON_PID)"
  stop_baton

  # Slack: time to first page over the Slack channel, and a storm on one service.
  cmake --build "$BUILD" -j1 --target bench_slack_peer >> "$OUT/build.log"
  run_slack

  # Outage scale: slow webhook (vs Alertmanager), channel down, memory in flight, idle, TTFP.
  run_outage || log "outage stage failed (see above)"

  # High availability: PostgreSQL intake (1 and 3 instances), takeover time, duplicates after a takeover.
  run_ha || log "high-availability stage failed (see above)"
fi

log "results in $RESULTS"
if [ "${BENCH_NO_DOC:-0}" != 1 ]; then
  python3 "$BENCH_DIR/report.py" "$RESULTS" "$ROOT/docs/benchmarks.md" "$OUT"
  log "docs/benchmarks.md updated"
fi
