#!/usr/bin/env python3
"""Helpers and figures of the outage stage (bench/outage.sh); stdlib only.

  outage_analyze.py rss PID SECONDS OUT    sample VmRSS of PID every 10 ms (bounded by SECONDS and by
                                           the process's life); OUT gets "peak_kib samples", rewritten
                                           at each new peak and at the end (SIGTERM ends it cleanly)
  outage_analyze.py threads PID            one line per thread: "tid comm cpu_ticks ctx_switches"
                                           (voluntary + nonvoluntary) from /proc/PID/task/*/
  outage_analyze.py report OUT_DIR         every figure of the stage as `key value` lines for report.py

Inputs of `report` (written by outage.sh into OUT_DIR): for each run R (the repeated slow-webhook runs
are named slow-r1, slow-r2... and reported by their median p99),
outage-R-sent.txt (bench_load: "<seq> <intended ns> <actual send ns> <status>"), outage-sink-R.log
(bench_sink: "<arrival ns> <seq>"), outage-sink-R.out (its counters), outage-metrics-R.txt (baton's or
Alertmanager's /metrics before the stop), outage-threads-R-{0,1}.txt (`threads` before and after),
outage-rss-R.txt (`rss`). O6 (runs p6*) also reads results.txt (owners and each run's pacing rate),
bench_slack_peer's log ("<ns> <method> <channel> <seq>") and outage-R-t1.txt (end of the observation)."""
import math
import os
import signal
import sys
import time


def pct(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))] if v else float("nan")


# ---------------------------------------------------------------- samplers
def rss(pid, seconds, out):
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    peak, samples, deadline = 0, 0, time.monotonic() + float(seconds)

    def write():
        with open(out + ".tmp", "w") as f:
            f.write(f"{peak} {samples}\n")
        os.replace(out + ".tmp", out)

    while not stop[0] and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kib = int(line.split()[1])
                        samples += 1
                        if kib > peak:
                            peak = kib
                            write()
                        break
        except OSError:
            break
        time.sleep(0.01)
    write()


def threads(pid):
    base = f"/proc/{pid}/task"
    for tid in sorted(os.listdir(base), key=int):
        try:
            comm = open(f"{base}/{tid}/comm").read().strip().replace(" ", "_")
            stat = open(f"{base}/{tid}/stat").read()
            fields = stat[stat.rindex(")") + 2:].split()
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            ctx = 0
            for line in open(f"{base}/{tid}/status"):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    ctx += int(line.split()[1])
            print(tid, comm, ticks, ctx)
        except (OSError, ValueError):
            pass  # the thread ended meanwhile


# ---------------------------------------------------------------- report
def report(out):
    def path(name):
        return os.path.join(out, name)

    def emit(key, value):
        if isinstance(value, float):
            value = "nan" if math.isnan(value) else f"{value:.2f}"
        print(key, value)

    def load_sent(run):
        sent = {}
        if os.path.exists(path(f"outage-{run}-sent.txt")):
            for line in open(path(f"outage-{run}-sent.txt")):
                seq, intended, actual, status = line.split()
                sent[int(seq)] = (int(intended), int(actual), int(status))
        return sent

    def load_sink(run):
        first, hits = {}, 0
        if os.path.exists(path(f"outage-sink-{run}.log")):
            for line in open(path(f"outage-sink-{run}.log")):
                t, seq = map(int, line.split())
                hits += 1
                if seq >= 0 and (seq not in first or t < first[seq]):
                    first[seq] = t
        return first, hits

    def kv_file(name):
        kv = {}
        if os.path.exists(path(name)):
            for line in open(path(name)):
                parts = line.split()
                if len(parts) == 2:
                    kv[parts[0]] = parts[1]
        return kv

    def metric_sum(run, prefix, must=()):
        total = 0.0
        if os.path.exists(path(f"outage-metrics-{run}.txt")):
            for line in open(path(f"outage-metrics-{run}.txt")):
                if line.startswith(prefix) and all(m in line for m in must):
                    total += float(line.split()[-1])
        return total

    def thread_table(run):
        """CPU ticks and context switches per thread name over the run: after - before."""
        def read(i):
            rows = {}
            p = path(f"outage-threads-{run}-{i}.txt")
            if os.path.exists(p):
                for line in open(p):
                    tid, comm, ticks, ctx = line.split()
                    rows[tid] = (comm, int(ticks), int(ctx))
            return rows
        before, after = read(0), read(1)
        by = {}
        for tid, (comm, ticks, ctx) in after.items():
            b = before.get(tid, (comm, 0, 0))
            t, c, n = by.get(comm, (0, 0, 0))
            by[comm] = (t + ticks - b[1], c + ctx - b[2], n + 1)
        return by

    hz = os.sysconf("SC_CLK_TCK")

    def figures(run, key, origin):
        """[(key, value)] of one run; origin: 1 = from the actual send of each alert, 0 = from its
        intended send time (open loop)."""
        out_kv = []

        def add(k, v):
            out_kv.append((k, v))
        sent, (first, hits) = load_sent(run), load_sink(run)
        if not sent:
            return out_kv
        lat = [(first[s] - sent[s][origin]) / 1e6 for s in sent if s in first]
        add(f"{key}_alerts", len(sent))
        add(f"{key}_accepted", sum(1 for v in sent.values() if 200 <= v[2] < 300))
        add(f"{key}_paged", len(lat))
        add(f"{key}_sink_requests", hits)
        for p in (50, 90, 99):
            add(f"{key}_p{p}_ms", pct(lat, p))
        add(f"{key}_max_ms", max(lat) if lat else float("nan"))
        sends = sorted(v[1] for v in sent.values())
        add(f"{key}_intake_ms", (sends[-1] - sends[0]) / 1e6)
        if first:
            arrivals = [first[s] for s in sent if s in first]
            add(f"{key}_last_page_after_first_send_ms", (max(arrivals) - sends[0]) / 1e6)
        sink = kv_file(f"outage-sink-{run}.out")
        for k in ("sink_max_held", "sink_max_connections"):
            if k in sink:
                add(f"{key}_{k}", sink[k])
        rss_file = path(f"outage-rss-{run}.txt")
        if os.path.exists(rss_file):
            peak, samples = open(rss_file).read().split()
            add(f"{key}_peak_rss_kib", peak)
            add(f"{key}_rss_samples", samples)
        by = thread_table(run)
        if by:
            top = sorted(by.items(), key=lambda kv: -kv[1][0])[:6]
            add(f"{key}_cpu_ms_by_thread", ",".join(f"{comm}x{n}:{t * 1000 // hz}" for comm, (t, _, n) in top))
        if os.path.exists(path(f"outage-metrics-{run}.txt")):
            if run.startswith("am"):
                add(f"{key}_notifications",
                    int(metric_sum(run, "alertmanager_notifications_total", ('integration="webhook"',))))
                add(f"{key}_notifications_failed",
                    int(metric_sum(run, "alertmanager_notifications_failed_total", ('integration="webhook"',))))
            else:
                ok = metric_sum(run, "baton_notifications_total", ('channel="webhook"', 'result="delivered"'))
                add(f"{key}_delivered", int(ok))
                add(f"{key}_not_delivered",
                    int(metric_sum(run, "baton_notifications_total", ('channel="webhook"',)) - ok))
        return out_kv

    def latency_run(run, key, origin):
        for k, v in figures(run, key, origin):
            emit(k, v)

    def repeated(base, key):
        """Runs base-r1, base-r2...: every figure of the run with the median p99, and each run's p99."""
        runs = []
        i = 1
        while os.path.exists(path(f"outage-{base}-r{i}-sent.txt")):
            kv = dict(figures(f"{base}-r{i}", key, 1))
            runs.append((kv.get(f"{key}_p99_ms", float("nan")), i, kv))
            i += 1
        if not runs:
            return
        ordered = sorted(runs, key=lambda r: (math.isnan(r[0]), r[0]))
        p99, i, kv = ordered[(len(ordered) - 1) // 2]
        for k, v in kv.items():
            emit(k, v)
        emit(f"{key}_runs", len(runs))
        emit(f"{key}_median_run", i)
        emit(f"{key}_p99_ms_each_run", "/".join(f"{r[0]:.0f}" for r in runs))
        emit(f"{key}_p50_ms_each_run", "/".join(f"{r[2].get(key + '_p50_ms', float('nan')):.0f}" for r in runs))

    def provider(run, key, kind):
        """O6: one slow-provider run. kind: slack (bench_slack_peer's log: a page is the DM's
        chat.postMessage carrying ttfp-<seq>), sms or email (bench_sink / bench_smtp_sink log).
        Latency from the actual send. The pacing part: per pacing key (Slack: the owner's DM channel,
        owner = seq % owners; Twilio: the one sending number; email: none), the earliest time an ideal
        pacer at the configured rate could have the k-th page out, f_k = max(s_k, f_(k-1) + 1/rate)
        over the key's sends in send order; "pacing" = f_k - s_k, "beyond" = a_k - f_k (a_k: the
        key's k-th arrival), per rank."""
        sent = load_sent(run)
        if not sent:
            return
        first, hits, opens, opens_burst = {}, 0, 0, 0
        t_send0 = min(v[1] for v in sent.values())
        logp = path(f"outage-sink-{run}.log")
        if os.path.exists(logp):
            for line in open(logp):
                parts = line.split()
                if kind == "slack":
                    t, method, _, seq = int(parts[0]), parts[1], parts[2], int(parts[3])
                    if method == "conversations.open":
                        opens += 1
                        opens_burst += t >= t_send0
                    if method != "chat.postMessage":
                        continue
                else:
                    t, seq = int(parts[0]), int(parts[1])
                if seq < 0:
                    continue
                hits += 1
                if seq not in first or t < first[seq]:
                    first[seq] = t
        res = kv_file("results.txt")  # run.sh's results so far: the owners and each run's rate
        owners = int(res.get("outage_p6_owners", 50))
        rate = float(res.get(f"outage_{run}_rate", 0))  # 0: no pacing (email)
        lat = [(first[s] - sent[s][1]) / 1e6 for s in sent if s in first]
        emit(f"{key}_alerts", len(sent))
        emit(f"{key}_accepted", sum(1 for v in sent.values() if 200 <= v[2] < 300))
        emit(f"{key}_paged", len(lat))
        emit(f"{key}_pages_at_provider", hits)
        for p in (50, 90, 99):
            emit(f"{key}_p{p}_ms", pct(lat, p))
        emit(f"{key}_max_ms", max(lat) if lat else float("nan"))
        sends = sorted(v[1] for v in sent.values())
        emit(f"{key}_intake_ms", (sends[-1] - sends[0]) / 1e6)
        if kind == "slack":
            emit(f"{key}_conversations_open", opens)
            emit(f"{key}_conversations_open_in_burst", opens_burst)
        # Pacing floor and what is beyond it, per pacing key.
        groups = {}
        for s, v in sent.items():
            g = s % owners if kind == "slack" else 0
            groups.setdefault(g, ([], []))[0].append(v[1])
            if s in first:
                groups[g][1].append(first[s])
        pacing, beyond, per_sec, min_gap = [], [], 0, float("nan")
        for g, (ss, aa) in groups.items():
            ss.sort()
            aa.sort()
            f_prev = None
            floors = []
            for s in ss:
                f = s if f_prev is None or not rate else max(s, f_prev + 1e9 / rate)
                floors.append(f)
                f_prev = f
            for k, a in enumerate(aa):
                pacing.append((floors[k] - ss[k]) / 1e6)
                beyond.append((a - floors[k]) / 1e6)
            seconds = {}
            for a in aa:
                seconds[a // 1_000_000_000] = seconds.get(a // 1_000_000_000, 0) + 1
            per_sec = max([per_sec] + list(seconds.values()))
            gaps = [(y - x) / 1e6 for x, y in zip(aa, aa[1:])]
            if gaps and not (min(gaps) >= min_gap):
                min_gap = min(gaps)
        for name, values in (("pacing", pacing), ("beyond_pacing", beyond)):
            for p in (50, 99):
                emit(f"{key}_{name}_p{p}_ms", pct(values, p))
            emit(f"{key}_{name}_max_ms", max(values) if values else float("nan"))
        emit(f"{key}_pacing_keys", len(groups))
        emit(f"{key}_max_pages_per_second_per_key", per_sec)
        emit(f"{key}_min_gap_per_key_ms", min_gap)
        arrivals = sorted(first[s] for s in sent if s in first)
        if arrivals:
            emit(f"{key}_last_page_after_first_send_ms", (arrivals[-1] - sends[0]) / 1e6)
            if len(arrivals) > 1 and arrivals[-1] > arrivals[0]:
                emit(f"{key}_pages_per_s", (len(arrivals) - 1) / ((arrivals[-1] - arrivals[0]) / 1e9))
        if os.path.exists(path(f"outage-{run}-t1.txt")):
            emit(f"{key}_observed_s", (int(open(path(f"outage-{run}-t1.txt")).read().split()[0]) - sends[0]) / 1e9)
        sink = kv_file(f"outage-sink-{run}.out")
        for k in ("sink_max_held", "sink_max_connections", "sink_connections"):
            if k in sink:
                emit(f"{key}_{k}", sink[k])
        rss_file = path(f"outage-rss-{run}.txt")
        if os.path.exists(rss_file):
            emit(f"{key}_peak_rss_kib", open(rss_file).read().split()[0])
        by = thread_table(run)
        if by:
            top = sorted(by.items(), key=lambda kv: -kv[1][0])[:6]
            emit(f"{key}_cpu_ms_by_thread", ",".join(f"{comm}x{n}:{t * 1000 // hz}" for comm, (t, _, n) in top))
        if os.path.exists(path(f"outage-metrics-{run}.txt")):
            label = f'channel="{kind}"'
            ok = metric_sum(run, "baton_notifications_total", (label, 'result="delivered"'))
            emit(f"{key}_delivered", int(ok))
            emit(f"{key}_not_delivered", int(metric_sum(run, "baton_notifications_total", (label,)) - ok))

    # 1. Slow webhook: baton (defaults, then no connection limit; then the 300 alerts) and
    # Alertmanager, the same burst to the same sink, each BENCH_OUTAGE_REPEAT times (interleaved).
    repeated("slow", "outage_slow")
    repeated("slowt", "outage_slowt")
    repeated("slow300", "outage_slow300")
    repeated("am", "outage_am")
    # 5. Channel down: SMTP refuses, the webhook link (10 min later in the chain) pages at the first failure.
    latency_run("down", "outage_down", 1)
    if os.path.exists(path("outage-metrics-down.txt")):  # email attempts: refused, so none delivered
        emit("outage_down_email_not_delivered", int(metric_sum("down", "baton_notifications_total", ('channel="email"',))
                                                    - metric_sum("down", "baton_notifications_total", ('channel="email"', 'result="delivered"'))))
        emit("outage_down_email_delivered", int(metric_sum("down", "baton_notifications_total", ('channel="email"', 'result="delivered"'))))
    # 6a. Memory with 10,000 deliveries in flight.
    latency_run("mem", "outage_mem", 1)
    idle = kv_file("outage-mem-idle.txt")
    if "rss_kib" in idle:
        emit("outage_mem_idle_rss_kib", idle["rss_kib"])
    # 6b. Idle wake-ups: context switches of every thread over the window.
    by = thread_table("idle")
    if by:
        window = float(kv_file("outage-idle-window.txt").get("seconds", "nan"))
        total = sum(c for _, c, _ in by.values())
        emit("outage_idle_window_s", window)
        emit("outage_idle_wakeups", total)
        emit("outage_idle_wakeups_per_s", total / window)
        emit("outage_idle_threads", sum(n for _, _, n in by.values()))
        emit("outage_idle_cpu_ms", sum(t for t, _, _ in by.values()) * 1000 // hz)
        emit("outage_idle_wakeups_by_thread", ",".join(f"{comm}x{n}:{c}" for comm, (_, c, n) in sorted(by.items())))
    # 3. Time to first page at 1,000 new incidents/s, fast sink (open loop: from the intended send time).
    latency_run("ttfp", "outage_ttfp", 0)
    for metric, key in (("baton_time_to_first_page_seconds", "outage_ttfp_server_p99_bucket_ms"),
                        ("baton_time_to_commit_seconds", "outage_ttfp_commit_p99_bucket_ms")):
        buckets, count = [], 0.0
        if not os.path.exists(path("outage-metrics-ttfp.txt")):
            break
        for line in open(path("outage-metrics-ttfp.txt")):
            if line.startswith(metric + "_bucket"):
                le = line.split('le="')[1].split('"')[0]
                buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
            elif line.startswith(metric + "_count"):
                count = float(line.split()[-1])
        if count:
            bound = next((le for le, c in buckets if c >= 0.99 * count), float("nan"))
            emit(key, bound * 1000)
    # O6. Slow providers: Slack, Twilio, SMTP; pacing lifted, then at the defaults.
    provider("p6slack", "outage_p6slack", "slack")
    provider("p6slackc", "outage_p6slackc", "slack")
    provider("p6slackd", "outage_p6slackd", "slack")
    provider("p6twilio", "outage_p6twilio", "sms")
    provider("p6twiliod", "outage_p6twiliod", "sms")
    provider("p6smtp", "outage_p6smtp", "email")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "rss":
        rss(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "threads":
        threads(sys.argv[2])
    elif cmd == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
