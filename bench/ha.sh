# The high-availability stage of bench/run.sh (sourced; defines run_ha): several `baton serve`
# processes on one throwaway PostgreSQL 15 (docs/architecture.md, "High availability"). The
# stage starts its own cluster (initdb in a new /tmp directory, as user nobody when run as root,
# on a free loopback port, fsync=on, synchronous_commit=on; stopped and removed at the end and by
# run.sh's EXIT trap), a database per run. Runs:
#   intake  closed loop (bench_load, rate 0: as wrk, each connection sends its next request when
#           the answer is in) for DUR s per shape, the bodies of the main run's wrk scripts:
#           single = Events v2, 1 event/request, dedup over 100 open incidents (baton_dup.lua;
#           Alertmanager: am_single.lua), batch = Alertmanager webhook, 100 alerts/request over 10
#           groups (baton_am.lua; Alertmanager: am_batch.lua). In this order, each on a fresh
#           database: Alertmanager 0.25 (in memory), baton on SQLite (bench/baton-bench.yaml,
#           durability full), baton on PostgreSQL with 1 instance, then 3 instances behind
#           bench_load's round-robin (request k to instance k % 3; the two that do not own the
#           engine write each request to the inbox, which the owner consumes). 16 connections
#           for one instance (as wrk -c16), BENCH_HA_RR_CONNS (default 16) in all for three.
#           After a three-instance shape, the inbox is drained (at most 120 s) and the time it
#           took recorded; CPU of each process over each PostgreSQL shape, and the disk's fdatasync
#           latency during each baton shape (ha_analyze.py fsync, every 50 ms). Then 2 s more of the
#           three-instance single shape with every statement logged: statements per request by kind.
#   takeover  3 instances; first BENCH_HA_TAKEOVER_OPEN open incidents (default 10000, service
#           bulk, step timeout 1 h, each paged once), which every successor restores; then
#           BENCH_HA_KILLS rounds (default 10): an incident on service svc<i> (via
#           an instance that does not own the engine) whose step 1 (person a<i>, named
#           "ttfp-<1000+i>") times out after 3 s; once that page is delivered, the owner (found
#           with GET /api/v1/cluster) is SIGKILLed 0.5 s before the step's deadline, so the timer
#           is overdue when the successor takes over; the successor's step-2 page (person b<i>,
#           "ttfp-<2000+i>") is stamped by the sink (bench/ha_analyze.py sink: arrival time, the
#           Idempotency-Key and the webhook's event of every request). Then the killed instance is
#           started again.
#           Default lease (TTL 3 s, renewal every 1 s).
#   dup     3 instances, BENCH_HA_DUP_ROUNDS rounds (default 2): BENCH_HA_DUP_BURST alerts (default
#           1000, new dedup keys "ttfp-<seq>") at once round-robin over the 3 instances, each paged by
#           webhook to a sink that answers after BENCH_HA_DUP_DELAY_MS (default 300) and logs the
#           Idempotency-Key of every arrival (bench/ha_analyze.py sink); when every page has reached
#           the sink, the owner is SIGKILLed; after the successor delivered the outbox, arrivals are
#           counted per key (duplicates) and per alert (lost).
# BENCH_HA_ONLY=takeover|dup|intake runs only that part (trials). Figures by bench/ha_analyze.py.
# Uses from run.sh: B BATON OUT RESULTS DUR PIDS CLEANUP_HOOKS AM_PORT ROOT BENCH_DIR, put, log,
# wait_http; from outage.sh: wait_tcp.
# Loopback only; every loop is bounded in count and time; nothing asserts on time.

HA_PORTS=(18101 18102 18103)
HA_SINK_PORT=18190      # bench_sink (intake), ha_analyze.py sink (takeover)
HA_DUP_SINK_PORT=18191  # ha_analyze.py sink (dup)
HA_TOKEN=bench-only-token
HA_PG_DIR="" HA_PG_PORT="" HA_PG_BIN=""
HA_PID=("" "" "")
HA_CFG=("" "" "")
HA_DB=""

# ha_as_pg CMD...: run a PostgreSQL server program, as nobody when we are root (initdb and postgres
# refuse root: https://www.postgresql.org/docs/15/app-initdb.html), from the cluster's directory.
ha_as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd "$HA_PG_DIR" && runuser -u nobody -- "$@"); else (cd "$HA_PG_DIR" && "$@"); fi
}
ha_psql() { psql "$1" -qAt -v ON_ERROR_STOP=1 -c "$2"; }
ha_uri() { echo "postgres://postgres@127.0.0.1:$HA_PG_PORT/$1"; }

ha_pg_start() {
  local v
  HA_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -1 || true)
  if [ -z "$HA_PG_BIN" ] || [ ! -x "$HA_PG_BIN/initdb" ]; then
    log "ha: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql-15)"
    return 1
  fi
  HA_PG_DIR=$(mktemp -d /tmp/baton-bench-pg.XXXXXX)
  CLEANUP_HOOKS+=(ha_pg_stop)
  if [ "$(id -u)" = 0 ]; then chown nobody "$HA_PG_DIR"; fi
  ha_as_pg "$HA_PG_BIN/initdb" -D "$HA_PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale > "$OUT/ha-initdb.log" 2>&1 \
    || { log "ha: initdb failed (see $OUT/ha-initdb.log)"; return 1; }
  HA_PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # -k: the Unix socket in the cluster's directory; TCP on loopback only; durable commits.
  ha_as_pg "$HA_PG_BIN/pg_ctl" -D "$HA_PG_DIR/data" -l "$HA_PG_DIR/server.log" -w -t 60 -s \
    -o "-p $HA_PG_PORT -k $HA_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=100" \
    start || { log "ha: pg_ctl start failed: $(tail -5 "$HA_PG_DIR/server.log" 2> /dev/null)"; return 1; }
  put ha_pg_version "$("$HA_PG_BIN/postgres" --version | awk '{print $3}')"
  for v in fsync synchronous_commit wal_sync_method full_page_writes shared_buffers; do
    put "ha_pg_$v" "$(ha_psql "$(ha_uri postgres)" "SHOW $v")"
  done
}
ha_pg_stop() {
  [ -n "$HA_PG_DIR" ] || return 0
  if [ -f "$HA_PG_DIR/data/postmaster.pid" ]; then
    ha_as_pg "$HA_PG_BIN/pg_ctl" -D "$HA_PG_DIR/data" -m fast -w -t 60 -s stop > /dev/null 2>&1 || true
  fi
  rm -rf "$HA_PG_DIR"
  HA_PG_DIR=""
}
ha_createdb() {
  ha_psql "$(ha_uri postgres)" "CREATE DATABASE $1" > /dev/null
  HA_DB=$(ha_uri "$1")
}
# The PIDs of the cluster's processes (the postmaster and its children).
ha_pg_pids() {
  local pm
  pm=$(head -1 "$HA_PG_DIR/data/postmaster.pid" 2> /dev/null) || return 0
  echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}

# ha_config_intake FILE PORT: bench/baton-bench.yaml (the main run's) listening on PORT.
ha_config_intake() {
  sed -e "s/listen: \"127.0.0.1:18080\"/listen: \"127.0.0.1:$2\"/" "$BENCH_DIR/baton-bench.yaml" > "$1"
}
# ha_config_takeover FILE PORT KILLS: services svc<i> (key tk-<i>), step 1 a<i> for 3 s, step 2 b<i>.
ha_config_takeover() {
  local i
  { echo "# Generated by bench/ha.sh (takeover)."
    echo "server: {listen: \"127.0.0.1:$2\", action_secret: bench-only-action-secret, api_tokens: [{name: bench, token: $HA_TOKEN}]}"
    echo "storage: {path: ./unused.db}"
    echo "webhook: {url: \"http://127.0.0.1:$HA_SINK_PORT/hook\", timeout: 5s, signing_secret: bench-only-webhook-secret}"
    echo "people:"
    echo "  bulk: {name: Bulk, contact_chain: [{method: webhook, after: 0s}]}"
    for i in $(seq 0 $(($3 - 1))); do
      echo "  a$i: {name: ttfp-$((1000 + i)), contact_chain: [{method: webhook, after: 0s}]}"
      echo "  b$i: {name: ttfp-$((2000 + i)), contact_chain: [{method: webhook, after: 0s}]}"
    done
    echo "escalation_policies:"
    echo "  bulk: {name: Bulk, steps: [{targets: [{person: bulk}], timeout: 1h}]}"
    for i in $(seq 0 $(($3 - 1))); do
      echo "  pol$i: {name: Policy $i, steps: [{targets: [{person: a$i}], timeout: 3s}, {targets: [{person: b$i}], timeout: 1h}]}"
    done
    echo "services:"
    echo "  bulk: {name: Bulk service, escalation_policy: bulk, integration_keys: [bulk-key]}"
    for i in $(seq 0 $(($3 - 1))); do
      echo "  svc$i: {name: Service $i, escalation_policy: pol$i, integration_keys: [tk-$i]}"
    done
  } > "$1"
}
# ha_config_dup FILE PORT: one service (bench-key), one person paged by webhook at once, step 1 h.
ha_config_dup() {
  cat > "$1" <<EOF
# Generated by bench/ha.sh (dup).
server: {listen: "127.0.0.1:$2", action_secret: bench-only-action-secret, api_tokens: [{name: bench, token: $HA_TOKEN}]}
storage: {path: ./unused.db}
webhook: {url: "http://127.0.0.1:$HA_DUP_SINK_PORT/hook", timeout: 5s, signing_secret: bench-only-webhook-secret}
people:
  oncall: {name: On Call, contact_chain: [{method: webhook, after: 0s}]}
escalation_policies:
  bench: {name: Bench, steps: [{targets: [{person: oncall}], timeout: 1h}]}
services:
  bench: {name: Bench service, escalation_policy: bench, integration_keys: [bench-key]}
EOF
}

# ha_start I TAG DB: instance I (port HA_PORTS[I], config HA_CFG[I]) on DB (a path or a URI); until
# /readyz answers (at most 30 s). Sets HA_PID[I].
ha_start() {
  BENCH_SINK_URL=http://127.0.0.1:$HA_SINK_PORT/hook "$BATON" serve --config "${HA_CFG[$1]}" \
    --listen "127.0.0.1:${HA_PORTS[$1]}" --db "$3" >> "$OUT/ha-baton-$2-$1.log" 2>&1 &
  HA_PID[$1]=$!
  PIDS+=("${HA_PID[$1]}")
  wait_http "http://127.0.0.1:${HA_PORTS[$1]}/readyz" 30 || log "ha: instance $1 ($2) not ready after 30 s"
}
ha_stop() {
  local i
  for i in "$@"; do
    [ -n "${HA_PID[$i]}" ] || continue
    kill "${HA_PID[$i]}" 2> /dev/null || true
    wait "${HA_PID[$i]}" 2> /dev/null || true
    HA_PID[$i]=""
  done
}
# ha_owner: the index of the instance that owns the engine (GET /api/v1/cluster of each), -1 if none.
ha_owner() {
  local i answers=()
  for i in 0 1 2; do
    if [ -n "${HA_PID[$i]}" ]; then
      answers+=("$(curl -s -m 2 -H "Authorization: Bearer $HA_TOKEN" "http://127.0.0.1:${HA_PORTS[$i]}/api/v1/cluster" || true)")
    else
      answers+=("")
    fi
  done
  python3 "$BENCH_DIR/ha_analyze.py" owner "${answers[@]}"
}
# ha_wait_owner SECONDS: until some instance owns the engine (bounded); prints its index or -1.
ha_wait_owner() {
  local deadline=$((SECONDS + $1)) o=-1
  while [ $SECONDS -lt $deadline ]; do
    o=$(ha_owner)
    [ "$o" != -1 ] && break
    sleep 0.1
  done
  echo "$o"
}
# ha_cluster TAG DB N KIND: N instances (0 first, and the owner before the others start).
ha_cluster() {
  local i
  for i in $(seq 0 $(($3 - 1))); do
    HA_CFG[$i]=$OUT/ha-$1-$i.yaml
    "ha_config_$4" "${HA_CFG[$i]}" "${HA_PORTS[$i]}" "${BENCH_HA_KILLS:-10}"
    ha_start "$i" "$1" "$2"
    if [ "$i" = 0 ] && [ "$(ha_wait_owner 30)" != 0 ]; then log "ha: instance 0 did not take the lease"; fi
  done
}
# ha_open_dedup PORT: the 100 incidents the single-event shape deduplicates against (as run.sh).
ha_open_dedup() {
  local k
  for k in $(seq 0 99); do
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$1/v2/enqueue" -H 'Content-Type: application/json' \
      -d "{\"routing_key\":\"bench-key\",\"event_action\":\"trigger\",\"dedup_key\":\"dup-$k\",\"payload\":{\"summary\":\"Error rate above 5% on host-$k\",\"source\":\"host-$k:9100\",\"severity\":\"critical\"}}" || true
  done
}
# ha_load NAME PORTS CONNS BODY PATH: one closed-loop intake shape; figures ha_NAME_*. For baton, the
# fdatasync latency of the disk the databases are on (/tmp) is probed meanwhile (ha_analyze.py fsync).
ha_load() {
  local probe=""
  if [ "${1#am_}" = "$1" ]; then
    python3 "$BENCH_DIR/ha_analyze.py" fsync "$OUT" "$((DUR + 5))" "ha_$1" > "$OUT/ha-fsync-$1.txt" &
    probe=$!
    PIDS+=("$probe")
  fi
  BENCH_LOAD_BODIES=$OUT/ha-body-$4.txt BENCH_LOAD_PATH=$5 "$B/bench_load" "$2" 0 "$DUR" "$3" - \
    | sed "s/^load_/ha_$1_/" | tee -a "$RESULTS"
  if [ -n "$probe" ]; then
    kill "$probe" 2> /dev/null || true
    wait "$probe" 2> /dev/null || true
    tee -a "$RESULTS" < "$OUT/ha-fsync-$1.txt"
  fi
}
# ha_cpu_snap NAME PHASE: CPU ms of each running instance and of PostgreSQL (all its processes),
# and each instance's threads (outage_analyze.py threads), into $OUT/ha-cpu-NAME-PHASE.txt.
ha_cpu_snap() {
  local i pg=0
  { for i in 0 1 2; do
      [ -n "${HA_PID[$i]}" ] && echo "baton$i $(python3 "$BENCH_DIR/ha_analyze.py" cpu "${HA_PID[$i]}" | awk '{print $2}')"
    done
    # shellcheck disable=SC2046
    pg=$(python3 "$BENCH_DIR/ha_analyze.py" cpu $(ha_pg_pids) | awk '{s += $2} END {print s + 0}')
    echo "postgres $pg"
  } > "$OUT/ha-cpu-$1-$2.txt"
  for i in 0 1 2; do
    [ -n "${HA_PID[$i]}" ] && python3 "$BENCH_DIR/outage_analyze.py" threads "${HA_PID[$i]}" > "$OUT/ha-threads-$1-$i-$2.txt"
  done
  return 0
}
# ha_drain NAME: until the inbox is empty (at most 120 s); ha_NAME_inbox_at_end, ha_NAME_drain_s.
ha_drain() {
  local t0 n deadline=$((SECONDS + 120))
  t0=$(date +%s%N)
  n=$(ha_psql "$HA_DB" "SELECT count(*) FROM inbox" || echo "?")
  put "ha_$1_inbox_at_end" "$n"
  while [ "$n" != 0 ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.1
    n=$(ha_psql "$HA_DB" "SELECT count(*) FROM inbox" || echo "?")
  done
  put "ha_$1_drain_s" "$(awk -v a="$t0" -v b="$(date +%s%N)" -v n="$n" 'BEGIN {printf "%.2f", n == 0 ? (b - a) / 1e9 : -1}')"
}

# ---------------------------------------------------------------- intake
ha_intake() {
  local rr_conns=${BENCH_HA_RR_CONNS:-16} sink_pid am_pid owner
  python3 "$BENCH_DIR/ha_analyze.py" bodies "$OUT"
  put ha_duration_s "$DUR"
  put ha_rr_conns "$rr_conns"
  "$B/bench_sink" $HA_SINK_PORT "$OUT/ha-sink-intake.log" > "$OUT/ha-sink-intake.out" 2>&1 &
  sink_pid=$!
  PIDS+=("$sink_pid")
  wait_tcp $HA_SINK_PORT 10

  # Alertmanager 0.25, as in run.sh (blackhole route, in memory).
  if [ -x /usr/bin/prometheus-alertmanager ]; then
    log "ha intake: Alertmanager 0.25 (single, batch), ${DUR}s each, 16 connections"
    rm -rf "$OUT/ha-am-data"; mkdir -p "$OUT/ha-am-data"
    /usr/bin/prometheus-alertmanager --config.file="$BENCH_DIR/alertmanager.yml" --storage.path="$OUT/ha-am-data" \
      --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address= \
      --web.external-url=http://127.0.0.1:$AM_PORT --log.level=warn > "$OUT/ha-alertmanager.log" 2>&1 &
    am_pid=$!
    PIDS+=("$am_pid")
    wait_http "http://127.0.0.1:$AM_PORT/-/ready" 30
    put ha_am_version "$(/usr/bin/prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')"
    ha_load am_single "$AM_PORT" 16 am_single /api/v2/alerts
    ha_load am_batch "$AM_PORT" 16 am_batch /api/v2/alerts
    kill "$am_pid"; wait "$am_pid" 2> /dev/null || true
  else
    log "ha: no /usr/bin/prometheus-alertmanager: the side by side is skipped"
  fi

  # baton on SQLite (the main run's configuration), one instance.
  log "ha intake: baton on SQLite (single, batch)"
  HA_CFG[0]=$OUT/ha-sqlite-0.yaml
  ha_config_intake "${HA_CFG[0]}" "${HA_PORTS[0]}"
  rm -f "$OUT/ha-sqlite.db"*
  ha_start 0 sqlite "$OUT/ha-sqlite.db"
  ha_open_dedup "${HA_PORTS[0]}"
  ha_load sqlite_single "${HA_PORTS[0]}" 16 baton_dup /v2/enqueue
  ha_load sqlite_batch "${HA_PORTS[0]}" 16 baton_am /api/v1/integrations/alertmanager/bench-key
  ha_stop 0

  # baton on PostgreSQL, one instance.
  log "ha intake: baton on PostgreSQL, 1 instance (single, batch)"
  ha_createdb ha_pg1
  ha_cluster pg1 "$HA_DB" 1 intake
  ha_open_dedup "${HA_PORTS[0]}"
  ha_cpu_snap pg1_single 0
  ha_load pg1_single "${HA_PORTS[0]}" 16 baton_dup /v2/enqueue
  ha_cpu_snap pg1_single 1
  ha_cpu_snap pg1_batch 0
  ha_load pg1_batch "${HA_PORTS[0]}" 16 baton_am /api/v1/integrations/alertmanager/bench-key
  ha_cpu_snap pg1_batch 1
  ha_stop 0

  # baton on PostgreSQL, three instances behind the round-robin client.
  log "ha intake: baton on PostgreSQL, 3 instances, round-robin client ($rr_conns connections)"
  ha_createdb ha_pg3
  ha_cluster pg3 "$HA_DB" 3 intake
  owner=$(ha_owner)
  put ha_pg3_owner_index "$owner"
  ha_open_dedup "${HA_PORTS[0]}"
  ha_cpu_snap pg3_single 0
  ha_load pg3_single "${HA_PORTS[0]},${HA_PORTS[1]},${HA_PORTS[2]}" "$rr_conns" baton_dup /v2/enqueue
  ha_drain pg3_single
  ha_cpu_snap pg3_single 1
  ha_cpu_snap pg3_batch 0
  ha_load pg3_batch "${HA_PORTS[0]},${HA_PORTS[1]},${HA_PORTS[2]}" "$rr_conns" baton_am \
    /api/v1/integrations/alertmanager/bench-key
  ha_drain pg3_batch
  ha_cpu_snap pg3_batch 1
  put ha_pg3_incidents "$(ha_psql "$HA_DB" "SELECT count(*) FROM incidents")"
  # What the database is asked per request: 2 s more of the single shape with every statement logged
  # (log_min_duration_statement = 0, then reset; not part of the figures above).
  local log_at done
  ha_psql "$HA_DB" "ALTER SYSTEM SET log_min_duration_statement = 0" > /dev/null
  ha_psql "$HA_DB" "SELECT pg_reload_conf()" > /dev/null
  sleep 0.5
  log_at=$(stat -c %s "$HA_PG_DIR/server.log")
  done=$(BENCH_LOAD_BODIES=$OUT/ha-body-baton_dup.txt BENCH_LOAD_PATH=/v2/enqueue "$B/bench_load" \
    "${HA_PORTS[0]},${HA_PORTS[1]},${HA_PORTS[2]}" 0 2 "$rr_conns" - | awk '$1 == "load_done" {print $2}')
  sleep 0.5
  ha_psql "$HA_DB" "ALTER SYSTEM RESET log_min_duration_statement" > /dev/null
  ha_psql "$HA_DB" "SELECT pg_reload_conf()" > /dev/null
  tail -c +"$((log_at + 1))" "$HA_PG_DIR/server.log" > "$OUT/ha-statements.log"
  python3 "$BENCH_DIR/ha_analyze.py" statements "$OUT/ha-statements.log" "${done:-0}" | tee -a "$RESULTS"
  ha_stop 0 1 2
  kill "$sink_pid"; wait "$sink_pid" 2> /dev/null || true
}

# ---------------------------------------------------------------- takeover
ha_takeover() {
  local kills=${BENCH_HA_KILLS:-10} open=${BENCH_HA_TAKEOVER_OPEN:-10000} i own via due now_ms t_kill succ epoch deadline
  local sink_pid ok
  log "ha takeover: 3 instances, $kills SIGKILLs of the owner, each 0.5 s before a step deadline"
  : > "$OUT/ha-takeover-kills.txt"
  rm -f "$OUT/ha-sink-takeover.log"
  python3 "$BENCH_DIR/ha_analyze.py" sink $HA_SINK_PORT "$OUT/ha-sink-takeover.log" 0 > "$OUT/ha-sink-takeover.out" 2>&1 &
  sink_pid=$!
  PIDS+=("$sink_pid")
  wait_tcp $HA_SINK_PORT 10
  ha_createdb ha_takeover
  ha_cluster takeover "$HA_DB" 3 takeover
  if [ "$open" -gt 0 ]; then
    # The open incidents every successor restores (service bulk, step timeout 1 h), each paged once.
    log "ha takeover: $open open incidents first (service bulk)"
    python3 "$BENCH_DIR/ha_analyze.py" bulk "$open" "$OUT/ha-body-bulk.txt"
    BENCH_LOAD_BODIES=$OUT/ha-body-bulk.txt "$B/bench_load" "${HA_PORTS[0]}" 1000000 \
      "$(awk -v n="$open" 'BEGIN {printf "%.6f", n / 1000000}')" 16 "$OUT/ha-takeover-bulk-sent.txt" \
      | sed "s/^load_/ha_takeover_bulk_/" | tee -a "$RESULTS"
    deadline=$((SECONDS + 120))
    until [ "$(ha_psql "$HA_DB" "SELECT count(*) FROM outbox WHERE state <> 'delivered'" || true)" = 0 ] || [ $SECONDS -ge $deadline ]; do
      sleep 0.2
    done
  fi
  put ha_takeover_open_incidents "$(ha_psql "$HA_DB" "SELECT count(*) FROM incidents WHERE state <> 'resolved'")"
  for i in $(seq 0 $((kills - 1))); do
    own=$(ha_wait_owner 30)
    if [ "$own" = -1 ]; then log "ha takeover $i: no owner after 30 s"; break; fi
    via=$(( (own + 1) % 3 ))
    curl -sf -o /dev/null -X POST "http://127.0.0.1:${HA_PORTS[$via]}/v2/enqueue" -H 'Content-Type: application/json' \
      -d "{\"routing_key\":\"tk-$i\",\"event_action\":\"trigger\",\"dedup_key\":\"takeover-$i\",\"payload\":{\"summary\":\"takeover probe $i\",\"source\":\"bench\",\"severity\":\"critical\"}}" \
      || log "ha takeover $i: the alert was not accepted"
    # The step-1 page delivered (committed), and the step's deadline (bounded: 10 s).
    due="" deadline=$((SECONDS + 10))
    while [ -z "$due" ] && [ $SECONDS -lt $deadline ]; do
      due=$(ha_psql "$HA_DB" "SELECT i.esc_deadline_ms FROM incidents i JOIN outbox o ON o.incident = i.number
                              WHERE i.dedup_key = 'takeover-$i' AND o.person = 'a$i' AND o.state = 'delivered'" || true)
      [ -n "$due" ] || sleep 0.05
    done
    if [ -z "$due" ]; then log "ha takeover $i: step-1 page not delivered within 10 s; skipped"; continue; fi
    now_ms=$(date +%s%3N)
    if [ $((due - 500 - now_ms)) -gt 0 ]; then sleep "$(awk -v d=$((due - 500 - now_ms)) 'BEGIN {printf "%.3f", d / 1000}')"; fi
    t_kill=$(date +%s%N)
    kill -9 "${HA_PID[$own]}"
    wait "${HA_PID[$own]}" 2> /dev/null || true
    HA_PID[$own]=""
    # The successor pages step 2 (bounded: 30 s).
    ok="" deadline=$((SECONDS + 30))
    while [ -z "$ok" ] && [ $SECONDS -lt $deadline ]; do
      ok=$(ha_psql "$HA_DB" "SELECT 1 FROM outbox o JOIN incidents i ON o.incident = i.number
                             WHERE i.dedup_key = 'takeover-$i' AND o.person = 'b$i' AND o.state = 'delivered'" || true)
      [ -n "$ok" ] || sleep 0.05
    done
    [ -n "$ok" ] || log "ha takeover $i: no step-2 page delivered within 30 s of the kill"
    succ=$(ha_owner)
    epoch=$(ha_psql "$HA_DB" "SELECT epoch FROM cluster_lease" || echo "?")
    echo "$i $t_kill $own $succ $epoch" >> "$OUT/ha-takeover-kills.txt"
    log "ha takeover $i: killed instance $own, successor $succ, epoch $epoch"
    ha_start "$own" takeover "$HA_DB"
    sleep 1  # its first heartbeat
  done
  ha_psql "$HA_DB" "SELECT idempotency_key || '|' || incident || '|' || person || '|' || kind || '|' || step || '|' || state
                    || '|' || attempts FROM outbox ORDER BY id" > "$OUT/ha-takeover-outbox.txt" || true
  ha_stop 0 1 2
  kill "$sink_pid"; wait "$sink_pid" 2> /dev/null || true
}

# ---------------------------------------------------------------- duplicates after takeover
ha_dup() {
  local rounds=${BENCH_HA_DUP_ROUNDS:-2} burst=${BENCH_HA_DUP_BURST:-1000} delay=${BENCH_HA_DUP_DELAY_MS:-300}
  local r sink_pid own deadline t_kill pending
  put ha_dup_delay_ms "$delay"
  for r in $(seq 1 "$rounds"); do
    log "ha dup, round $r: $burst alerts at once round-robin over 3 instances, sink answers after $delay ms; SIGKILL of the owner with every page at the sink"
    rm -f "$OUT/ha-dup-$r-sink.log"
    python3 "$BENCH_DIR/ha_analyze.py" sink $HA_DUP_SINK_PORT "$OUT/ha-dup-$r-sink.log" "$delay" > "$OUT/ha-dup-$r-sink.out" 2>&1 &
    sink_pid=$!
    PIDS+=("$sink_pid")
    wait_tcp $HA_DUP_SINK_PORT 10
    ha_createdb "ha_dup_$r"
    ha_cluster "dup$r" "$HA_DB" 3 dup
    own=$(ha_wait_owner 30)
    if [ "$own" = -1 ]; then
      log "ha dup, round $r: no instance owns the engine after 30 s; round skipped"
      ha_stop 0 1 2
      kill "$sink_pid"; wait "$sink_pid" 2> /dev/null || true
      continue
    fi
    "$B/bench_load" "${HA_PORTS[0]},${HA_PORTS[1]},${HA_PORTS[2]}" 1000000 "$(awk -v n="$burst" 'BEGIN {printf "%.6f", n / 1000000}')" \
      16 "$OUT/ha-dup-$r-sent.txt" | sed "s/^load_/ha_dup_r${r}_load_/" | tee -a "$RESULTS"
    # Every page at the sink (bounded: 60 s), then SIGKILL of the owner.
    deadline=$((SECONDS + 60))
    until [ "$(wc -l < "$OUT/ha-dup-$r-sink.log")" -ge "$burst" ] || [ $SECONDS -ge $deadline ]; do sleep 0.02; done
    t_kill=$(date +%s%N)
    kill -9 "${HA_PID[$own]}"
    wait "${HA_PID[$own]}" 2> /dev/null || true
    HA_PID[$own]=""
    { echo "kill_ns $t_kill"
      echo "burst $burst"
      echo "delay_ms $delay"
      echo "owner_killed $own"
      echo "pending_at_kill $(ha_psql "$HA_DB" "SELECT count(*) FROM outbox WHERE state = 'pending'")"
      echo "delivered_at_kill $(ha_psql "$HA_DB" "SELECT count(*) FROM outbox WHERE state = 'delivered'")"
    } > "$OUT/ha-dup-$r-kill.txt"
    # The successor takes over and delivers what is pending (bounded: 60 s).
    deadline=$((SECONDS + 60))
    pending=$(ha_psql "$HA_DB" "SELECT count(*) FROM outbox WHERE state <> 'delivered'" || echo "?")
    while [ "$pending" != 0 ] && [ $SECONDS -lt $deadline ]; do
      sleep 0.05
      pending=$(ha_psql "$HA_DB" "SELECT count(*) FROM outbox WHERE state <> 'delivered'" || echo "?")
    done
    echo "resume_ms $(( ($(date +%s%N) - t_kill) / 1000000 ))" >> "$OUT/ha-dup-$r-kill.txt"
    sleep 1  # stragglers
    ha_psql "$HA_DB" "SELECT idempotency_key || '|' || incident || '|' || state || '|' || attempts FROM outbox" \
      > "$OUT/ha-dup-$r-outbox.txt"
    ha_stop 0 1 2
    kill "$sink_pid"; wait "$sink_pid" 2> /dev/null || true
  done
}

run_ha() {
  put ha_baton_binary "${BATON#"$ROOT"/}"
  put ha_loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
  ha_pg_start || return 1
  case "${BENCH_HA_ONLY:-}" in
    "") ha_intake; ha_takeover; ha_dup ;;
    intake) ha_intake ;;
    takeover) ha_takeover ;;
    dup) ha_dup ;;
  esac
  put ha_loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
  ha_pg_stop
  python3 "$BENCH_DIR/ha_analyze.py" report "$OUT" | tee -a "$RESULTS"
}
