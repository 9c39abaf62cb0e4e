#!/usr/bin/env python3
"""Helpers and figures of the high-availability stage (bench/ha.sh); stdlib only.

  ha_analyze.py bodies DIR                 the request bodies of the intake shapes, one per line, the
                                           same as the wrk scripts': DIR/ha-body-baton_dup.txt
                                           (bench/baton_dup.lua), ha-body-baton_am.txt (baton_am.lua),
                                           ha-body-am_single.txt (am_single.lua), ha-body-am_batch.txt
                                           (am_batch.lua)
  ha_analyze.py bulk N FILE               N Events v2 bodies, one per line: new dedup keys on the
                                           service bulk (the takeover run's open incidents)
  ha_analyze.py sink PORT LOG DELAY_MS     a webhook receiver on 127.0.0.1:PORT that answers every
                                           request 200 DELAY_MS after its arrival and appends
                                           "<arrival ns> <Idempotency-Key> <seq> <event>" to LOG at once
                                           (seq: the number after the first "ttfp-" in the body, -1 when
                                           none; event: the webhook's "event", e.g. incident.page);
                                           SIGTERM ends it
  ha_analyze.py owner JSON...              reads GET /api/v1/cluster answers (one per argument, "" when
                                           an instance did not answer) and prints the index of the one
                                           whose self.owner is true, or -1
  ha_analyze.py fsync DIR SECONDS PREFIX   every 50 ms an 8 KiB write + fdatasync in DIR; prints
                                           PREFIX_fsync_p50_ms / _p99_ms / _max_ms (SIGTERM ends it)
  ha_analyze.py statements LOG REQUESTS    the statements of a PostgreSQL log with every statement
                                           logged, per request, by kind
  ha_analyze.py cpu PID...                 user + system CPU in ms of each PID and its threads (sum)
  ha_analyze.py report OUT_DIR             the takeover and duplicate figures as `key value` lines

Inputs of `report` (written by ha.sh into OUT_DIR):
  ha-takeover-kills.txt   one line per kill: "<i> <kill ns> <killed index> <successor index> <epoch after>"
  ha-sink-takeover.log    this file's sink: "<arrival ns> <key> <seq> <event>": a page to the step-1
                          person of kill i carries seq 1000 + i (the person's name), to the step-2
                          person 2000 + i
  ha-takeover-outbox.txt  the outbox at the end: "<key>|<incident>|<person>|<kind>|<step>|<state>|<attempts>"
  ha-dup-R-sink.log       this file's sink, round R: "<arrival ns> <key> <seq> <event>"
  ha-dup-R-outbox.txt     the outbox after the round: "<idempotency key>|<incident>|<state>|<attempts>"
  ha-dup-R-kill.txt       "kill_ns <ns>", "pending_at_kill <n>", "delivered_at_kill <n>", "burst <n>"
  ha-dup-R-sent.txt       bench_load's file of the burst
"""
import asyncio
import json
import math
import os
import re
import signal
import sys
import time


def pct(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))] if v else float("nan")


# ---------------------------------------------------------------- bodies (as the wrk scripts)
def bodies(out):
    dup = [('{"routing_key":"bench-key","event_action":"trigger","dedup_key":"dup-%d","payload":'
            '{"summary":"Error rate above 5%% on host-%d","source":"host-%d:9100","severity":"critical",'
            '"custom_details":{"error_rate":0.07}}}') % (k, k, k) for k in range(100)]
    am = []
    for g in range(10):
        alerts = [('{"status":"firing","labels":{"alertname":"BenchBatch%d","instance":"host-%d:9100","severity":"critical"},'
                   '"annotations":{"summary":"Error rate above 5%% on host-%d"},"startsAt":"2026-11-24T01:01:04.042663Z",'
                   '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"%016x"}')
                  % (g, k, k, g * 1000 + k) for k in range(100)]
        am.append(('{"receiver":"baton","status":"firing","alerts":[%s],"groupLabels":{"alertname":"BenchBatch%d"},'
                   '"commonLabels":{"alertname":"BenchBatch%d","severity":"critical"},"commonAnnotations":{},'
                   '"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{}:{alertname=\\"BenchBatch%d\\"}",'
                   '"truncatedAlerts":0}') % (",".join(alerts), g, g, g))
    am_single = [('[{"labels":{"alertname":"BenchSingle","instance":"host-%d:9100","severity":"critical"},'
                  '"annotations":{"summary":"Error rate above 5%% on host-%d"},"generatorURL":"http://prom/graph"}]')
                 % (k, k) for k in range(100)]
    am_batch = []
    for g in range(10):
        alerts = [('{"labels":{"alertname":"BenchBatch%d","instance":"host-%d:9100","severity":"critical"},'
                   '"annotations":{"summary":"Error rate above 5%% on host-%d"},"generatorURL":"http://prom/graph"}')
                  % (g, k, k) for k in range(100)]
        am_batch.append("[" + ",".join(alerts) + "]")
    for name, lines in (("baton_dup", dup), ("baton_am", am), ("am_single", am_single), ("am_batch", am_batch)):
        with open(os.path.join(out, f"ha-body-{name}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def bulk(n, out):
    """N Events v2 triggers with new dedup keys on service bulk (no "ttfp-" in them)."""
    with open(out, "w") as f:
        for k in range(int(n)):
            f.write('{"routing_key":"bulk-key","event_action":"trigger","dedup_key":"bulk-%d","payload":'
                    '{"summary":"Disk 95%% full on db-%d","source":"db-%d","severity":"critical"}}\n' % (k, k, k))


# ---------------------------------------------------------------- the webhook sink (Idempotency-Key)
SEQ = re.compile(rb"ttfp-(\d+)")
EVENT = re.compile(rb'"event":"([a-z_.]+)"')


def sink(port, log_path, delay_ms):
    delay = float(delay_ms) / 1000
    log = open(log_path, "a", buffering=1)
    count = [0]

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrival = time.time_ns()
                key, length, chunked = "-", 0, False
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    name, value = name.strip().lower(), value.strip()
                    if name == "idempotency-key":
                        key = value or "-"
                    elif name == "content-length":
                        length = int(value)
                    elif name == "transfer-encoding" and "chunked" in value.lower():
                        chunked = True
                    elif name == "expect" and "100-continue" in value.lower():
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if chunked:
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        body += await reader.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    body = await reader.readexactly(length) if length else b""
                m, e = SEQ.search(body), EVENT.search(body)
                log.write(f"{arrival} {key} {m.group(1).decode() if m else -1} {e.group(1).decode() if e else '-'}\n")
                count[0] += 1
                wait = delay - (time.time_ns() - arrival) / 1e9
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        server = await asyncio.start_server(handle, "127.0.0.1", int(port), backlog=4096, reuse_address=True)
        print(f"ha sink listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        async with server:
            await stop.wait()
        log.close()
        print(f"sink_requests {count[0]}", flush=True)

    asyncio.run(main())


# ---------------------------------------------------------------- small helpers for ha.sh
def owner(answers):
    for i, a in enumerate(answers):
        try:
            if json.loads(a)["self"]["owner"] is True:
                print(i)
                return
        except (ValueError, KeyError, TypeError):
            pass
    print(-1)


def cpu(pids):
    hz = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        ticks = 0
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
                fields = stat[stat.rindex(")") + 2:].split()
                ticks += int(fields[11]) + int(fields[12])
        except OSError:
            pass
        print(pid, ticks * 1000 // hz)


def fsync_probe(directory, seconds, prefix):
    """Every 50 ms: write 8 KiB to a file in DIRECTORY and fdatasync it; the latency of each (the disk
    the databases commit to, under the same load). Bounded by SECONDS and by SIGTERM."""
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    path = os.path.join(directory, f"fsync-probe-{os.getpid()}.tmp")
    lat, deadline, block = [], time.monotonic() + float(seconds), b"x" * 8192
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while not stop[0] and time.monotonic() < deadline:
            t0 = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"{prefix}_fsync_probes", len(lat))
    for p in (50, 99):
        print(f"{prefix}_fsync_p{p}_ms", f"{pct(lat, p):.2f}")
    print(f"{prefix}_fsync_max_ms", f"{max(lat) if lat else float('nan'):.2f}")


def statements(log_path, requests):
    """Statements PostgreSQL ran (log_min_duration_statement = 0 lines) per request, by kind."""
    requests = int(requests)
    kinds = {}
    stmt = re.compile(r"(?:statement|execute [^:]*): (.*)$")
    for line in open(log_path, errors="replace"):
        m = stmt.search(line)
        if not m:
            continue
        text = m.group(1)
        if text.startswith("SELECT COALESCE(") and "FROM inbox" in text:
            kind = "inbox_lag_select"
        elif text.startswith("SELECT id, kind, payload FROM inbox"):
            kind = "inbox_fetch"
        elif text.startswith("INSERT INTO inbox"):
            kind = "inbox_insert"
        elif text.startswith("DELETE FROM inbox"):
            kind = "inbox_delete"
        elif text.startswith("NOTIFY"):
            kind = "notify"
        elif text in ("BEGIN", "COMMIT", "ROLLBACK"):
            kind = text.lower()
        elif "FROM cluster_lease" in text and "FOR SHARE" in text:
            kind = "fence_check"
        elif "cluster_lease" in text or "INTO instances" in text:
            kind = "lease_heartbeat"
        else:
            kind = "other"
        kinds[kind] = kinds.get(kind, 0) + 1
    print("ha_statements_requests", requests)
    print("ha_statements_total", sum(kinds.values()))
    if requests:
        print("ha_statements_per_request", f"{sum(kinds.values()) / requests:.2f}")
        print("ha_statements_per_request_by_kind",
              ",".join(f"{k}:{n / requests:.2f}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))


# ---------------------------------------------------------------- report
def report(out):
    def path(name):
        return os.path.join(out, name)

    def emit(key, value):
        if isinstance(value, float):
            value = "nan" if math.isnan(value) else f"{value:.2f}"
        print(key, value)

    # CPU over each PostgreSQL intake shape: per process (ha-cpu-NAME-{0,1}.txt: "<name> <ms>"),
    # and per thread name of each instance (ha-threads-NAME-I-{0,1}.txt, outage_analyze.py threads).
    hz = os.sysconf("SC_CLK_TCK")
    for name in ("pg1_single", "pg1_batch", "pg3_single", "pg3_batch"):
        snaps = []
        for phase in (0, 1):
            p = path(f"ha-cpu-{name}-{phase}.txt")
            snaps.append(dict(line.split() for line in open(p) if len(line.split()) == 2) if os.path.exists(p) else {})
        if snaps[0] and snaps[1]:
            emit(f"ha_{name}_cpu_ms", ",".join(f"{k}:{int(snaps[1][k]) - int(snaps[0].get(k, 0))}"
                                               for k in snaps[1] if k in snaps[0]))
        for i in range(3):
            rows = []
            for phase in (0, 1):
                p = path(f"ha-threads-{name}-{i}-{phase}.txt")
                rows.append({l.split()[0]: l.split()[1:] for l in open(p) if len(l.split()) == 4}
                            if os.path.exists(p) else {})
            if not rows[0] or not rows[1]:
                continue
            by = {}
            for tid, (comm, ticks, _ctx) in rows[1].items():
                before = int(rows[0][tid][1]) if tid in rows[0] else 0
                by[comm] = by.get(comm, 0) + int(ticks) - before
            top = sorted(by.items(), key=lambda kv: -kv[1])[:6]
            emit(f"ha_{name}_threads_ms_{i}", ",".join(f"{c}:{t * 1000 // hz}" for c, t in top))

    # Takeover: SIGKILL of the owner -> the step-2 page (overdue at takeover) at the sink.
    if os.path.exists(path("ha-takeover-kills.txt")):
        kills = [line.split() for line in open(path("ha-takeover-kills.txt")) if line.strip()]
        pages, per_key, events = {}, {}, {}
        if os.path.exists(path("ha-sink-takeover.log")):
            for line in open(path("ha-sink-takeover.log")):
                t, key, seq, event = line.split()
                t, seq = int(t), int(seq)
                per_key.setdefault(key, []).append(t)
                events[event] = events.get(event, 0) + 1
                if event == "incident.page":
                    pages.setdefault(seq, []).append(t)
        times, missing, early, step1_pages = [], 0, 0, 0
        for k in kills:
            i, t_kill = int(k[0]), int(k[1])
            s2 = pages.get(2000 + i, [])
            step1_pages += len(pages.get(1000 + i, []))
            early += sum(1 for t in s2 if t < t_kill)  # the killed owner paged it: the kill came too late
            after = [t for t in s2 if t >= t_kill]
            if after:
                times.append((min(after) - t_kill) / 1e6)
            else:
                missing += 1
        emit("ha_takeover_kills", len(kills))
        emit("ha_takeover_measured", len(times))
        emit("ha_takeover_missing", missing)
        emit("ha_takeover_paged_before_kill", early)
        emit("ha_takeover_p50_ms", pct(times, 50))
        emit("ha_takeover_max_ms", max(times) if times else float("nan"))
        emit("ha_takeover_min_ms", min(times) if times else float("nan"))
        emit("ha_takeover_each_ms", "/".join(f"{t:.0f}" for t in times) or "none")
        emit("ha_takeover_step1_pages", step1_pages)
        emit("ha_takeover_duplicate_deliveries", sum(len(ts) - 1 for ts in per_key.values()))
        emit("ha_takeover_sink_events", ",".join(f"{e}:{n}" for e, n in sorted(events.items())))
        # From the instances' logs: when the successor took the lease and when its engine ran.
        owns, runs = {}, {}
        line_re = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\] \[info\] cluster: \S+ "
                             r"(owns|runs) the engine \(epoch (\d+)\)(?:: (\d+) open incidents)?")
        for name in sorted(os.listdir(out)):
            if name.startswith("ha-baton-takeover-") and name.endswith(".log"):
                for line in open(path(name), errors="replace"):
                    m = line_re.match(line)
                    if m:
                        t = int(time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))) * 10**9 + int(m.group(2)) * 10**6
                        (owns if m.group(3) == "owns" else runs)[int(m.group(4))] = (t, m.group(5))
        lease, load, restored = [], [], []
        for k in kills:
            e, t_kill = int(k[4]) if k[4].isdigit() else -1, int(k[1])
            if e in owns:
                lease.append((owns[e][0] - t_kill) / 1e6)
                if e in runs:
                    load.append((runs[e][0] - owns[e][0]) / 1e6)
                    restored.append(runs[e][1] or "?")
        emit("ha_takeover_lease_each_ms", "/".join(f"{t:.0f}" for t in lease) or "none")
        emit("ha_takeover_lease_max_ms", max(lease) if lease else float("nan"))
        emit("ha_takeover_load_each_ms", "/".join(f"{t:.0f}" for t in load) or "none")
        emit("ha_takeover_load_max_ms", max(load) if load else float("nan"))
        emit("ha_takeover_restored_each", "/".join(restored) or "none")
        emit("ha_takeover_successors", "/".join(f"{k[2]}>{k[3]}" for k in kills))
        emit("ha_takeover_epoch_end", kills[-1][4] if kills else "?")
        if os.path.exists(path("ha-takeover-outbox.txt")):
            kinds = {}
            for line in open(path("ha-takeover-outbox.txt")):
                parts = line.strip().split("|")
                if len(parts) == 7:
                    kinds[(parts[3], parts[5])] = kinds.get((parts[3], parts[5]), 0) + 1
            emit("ha_takeover_outbox", ",".join(f"{k}/{st}:{n}" for (k, st), n in sorted(kinds.items())))

    # Duplicates after takeover: per idempotency key at the sink.
    r = 1
    rounds = []
    while os.path.exists(path(f"ha-dup-{r}-kill.txt")):
        rounds.append(r)
        r += 1
    totals = {"dups": 0, "pages": 0, "lost": 0, "keys_per_incident_over_1": 0, "pending": 0, "unanswered": 0, "dup_answered": 0}
    each = []
    for r in rounds:
        pre = f"ha_dup_r{r}"
        kv = {}
        for line in open(path(f"ha-dup-{r}-kill.txt")):
            parts = line.split()
            if len(parts) == 2:
                kv[parts[0]] = parts[1]
        t_kill = int(kv.get("kill_ns", 0))
        burst = int(kv.get("burst", 0))
        per_key, key_seq, arrivals_before = {}, {}, 0
        if os.path.exists(path(f"ha-dup-{r}-sink.log")):
            for line in open(path(f"ha-dup-{r}-sink.log")):
                t, key, seq, _event = line.split()
                t, seq = int(t), int(seq)
                per_key.setdefault(key, []).append(t)
                key_seq[key] = seq
                arrivals_before += t < t_kill
        outbox = {}
        if os.path.exists(path(f"ha-dup-{r}-outbox.txt")):
            for line in open(path(f"ha-dup-{r}-outbox.txt")):
                parts = line.strip().split("|")
                if len(parts) == 4:
                    outbox[parts[0]] = (int(parts[1]), parts[2], int(parts[3]))
        delay_ns = int(float(kv.get("delay_ms", 300)) * 1e6)
        answered_before = sum(1 for ts in per_key.values() if ts[0] + delay_ns <= t_kill)
        dups = sum(len(ts) - 1 for ts in per_key.values())
        dup_keys = sum(1 for ts in per_key.values() if len(ts) > 1)
        # Sent again although the sink had answered it before the kill (its outcome was not committed).
        dup_answered = sum(1 for ts in per_key.values() if len(ts) > 1 and ts[0] + delay_ns <= t_kill)
        after = sum(1 for ts in per_key.values() for t in ts if t >= t_kill)
        # Lost: an accepted alert (2xx) whose incident's page never arrived (by seq = the alert's dedup key).
        accepted = set()
        if os.path.exists(path(f"ha-dup-{r}-sent.txt")):
            for line in open(path(f"ha-dup-{r}-sent.txt")):
                seq, _, _, status = line.split()
                if 200 <= int(status) < 300:
                    accepted.add(int(seq))
        seqs_paged = {s for s in key_seq.values() if s >= 0}
        lost = len(accepted - seqs_paged)
        keys_by_seq = {}
        for key, seq in key_seq.items():
            keys_by_seq.setdefault(seq, set()).add(key)
        multi = sum(1 for ks in keys_by_seq.values() if len(ks) > 1)
        unknown = sum(1 for k in per_key if k not in outbox)
        never = sum(1 for k in outbox if k not in per_key)
        emit(f"{pre}_burst", burst)
        emit(f"{pre}_accepted", len(accepted))
        emit(f"{pre}_sink_arrivals_before_kill", arrivals_before)
        emit(f"{pre}_sink_answered_before_kill", answered_before)
        emit(f"{pre}_unanswered_at_kill", arrivals_before - answered_before)
        emit(f"{pre}_db_delivered_at_kill", kv.get("delivered_at_kill", "?"))
        emit(f"{pre}_db_pending_at_kill", kv.get("pending_at_kill", "?"))
        emit(f"{pre}_arrivals_after_kill", after)
        emit(f"{pre}_keys", len(per_key))
        emit(f"{pre}_duplicates", dups)
        emit(f"{pre}_duplicate_keys", dup_keys)
        emit(f"{pre}_duplicates_of_answered", dup_answered)
        emit(f"{pre}_lost", lost)
        emit(f"{pre}_incidents_with_several_keys", multi)
        emit(f"{pre}_keys_not_in_outbox", unknown)
        emit(f"{pre}_outbox_rows", len(outbox))
        emit(f"{pre}_outbox_never_arrived", never)
        emit(f"{pre}_outbox_not_delivered", sum(1 for v in outbox.values() if v[1] != "delivered"))
        emit(f"{pre}_takeover_resume_ms", kv.get("resume_ms", "?"))
        totals["dups"] += dups
        totals["pages"] += burst
        totals["lost"] += lost
        totals["keys_per_incident_over_1"] += multi
        totals["unanswered"] += arrivals_before - answered_before
        totals["dup_answered"] += dup_answered
        try:
            totals["pending"] += int(kv.get("pending_at_kill", 0))
        except ValueError:
            pass
        each.append(dups * 1000 / burst if burst else float("nan"))
    if rounds:
        emit("ha_dup_rounds", len(rounds))
        emit("ha_dup_pages", totals["pages"])
        emit("ha_dup_duplicates", totals["dups"])
        emit("ha_dup_per_1000", totals["dups"] * 1000 / totals["pages"] if totals["pages"] else float("nan"))
        emit("ha_dup_per_1000_each", "/".join(f"{x:.0f}" for x in each))
        emit("ha_dup_pending_at_kill", totals["pending"])
        # In flight at the kill: sent (every page had reached the sink) but not recorded as delivered.
        emit("ha_dup_unanswered_at_kill", totals["unanswered"])
        emit("ha_dup_duplicates_of_answered", totals["dup_answered"])
        emit("ha_dup_per_1000_in_flight",
             totals["dups"] * 1000 / totals["pending"] if totals["pending"] else float("nan"))
        emit("ha_dup_lost", totals["lost"])
        emit("ha_dup_incidents_with_several_keys", totals["keys_per_incident_over_1"])


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "bodies":
        bodies(sys.argv[2])
    elif cmd == "bulk":
        bulk(sys.argv[2], sys.argv[3])
    elif cmd == "sink":
        sink(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "owner":
        owner(sys.argv[2:])
    elif cmd == "fsync":
        fsync_probe(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "statements":
        statements(sys.argv[2], sys.argv[3])
    elif cmd == "cpu":
        cpu(sys.argv[2:])
    elif cmd == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
