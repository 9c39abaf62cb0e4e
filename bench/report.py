#!/usr/bin/env python3
"""Renders bench/run.sh results (key value lines) into the generated part of
docs/benchmarks.md (between the BEGIN/END GENERATED markers; prose outside stays)."""
import datetime
import os
import platform
import subprocess
import sys

results_path, doc_path, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
r = {}
for line in open(results_path):
    parts = line.split(None, 1)
    if len(parts) == 2:
        r[parts[0]] = parts[1].strip()


def num(key):
    try:
        return float(r[key])
    except (KeyError, ValueError):
        return None


def fmt(v, unit="", digits=0):
    if v is None:
        return "not measured"
    return f"{v:,.{digits}f}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**MISSED**")


rows = []
am1, b1 = num("am_single_req_per_s"), num("baton_dup_req_per_s")
rows.append(("1. Events v2, 1 event/request, dedup over 100 open incidents (wrk -t1 -c16)",
             f">= Alertmanager ({fmt(am1, ' req/s')})",
             f"{fmt(b1, ' req/s')} (p99 {r.get('baton_dup_p99_ms', '?')} ms, errors {r.get('baton_dup_errors', '?')})",
             verdict(None if am1 is None or b1 is None else b1 >= am1)))
am2, b2 = num("am_batch_alerts_per_s"), num("baton_am_alerts_per_s")
rows.append(("2. Alertmanager webhook, 100 alerts/request over 10 groups",
             f">= Alertmanager ({fmt(am2, ' alerts/s')})",
             f"{fmt(b2, ' alerts/s')} (errors {r.get('baton_am_errors', '?')})",
             verdict(None if am2 is None or b2 is None else b2 >= am2)))
n3, inc3, pages3 = num("baton_new_req_per_s"), num("baton_new_incidents"), num("baton_new_pages_delivered")
rows.append(("3. New incidents, each paged (webhook to a local sink)", ">= 5,000/s",
             f"{fmt(n3, '/s')} ({fmt(inc3)} incidents, {fmt(pages3)} pages delivered)",
             verdict(None if n3 is None else n3 >= 5000 and pages3 is not None and pages3 >= inc3)))
t4 = num("ttfp_p99_ms")
rows.append(("4. Time to first page at 1,000 new incidents/s (open loop; send -> sink arrival)", "p99 < 5 ms",
             f"p50 {fmt(num('ttfp_p50_ms'), ' ms', 2)}, p99 {fmt(t4, ' ms', 2)}, max {fmt(num('ttfp_max_ms'), ' ms', 2)} "
             f"({fmt(num('ttfp_paged'))} of {fmt(num('ttfp_requests'))} paged; server histogram p99 <= "
             f"{r.get('ttfp_server_p99_bucket_ms', '?')} ms)",
             verdict(None if t4 is None else t4 < 5 and num('ttfp_paged') == num('ttfp_requests'))))
t5 = num("timer_late_p99_ms")
rows.append((f"5. Escalation timer lateness, {fmt(num('timers_pending'))} pending (engine loop on SystemClock)",
             "p99 < 10 ms",
             f"p50 {fmt(num('timer_late_p50_ms'), ' ms', 3)}, p99 {fmt(t5, ' ms', 3)}, max {fmt(num('timer_late_max_ms'), ' ms', 3)}",
             verdict(None if t5 is None else t5 < 10)))
t6, t6s = num("restart_total_ms"), num("baton_restart_ready_ms")
rows.append((f"6. Restart with {fmt(num('restart_open_incidents'))} open incidents: serving, every timer armed", "< 2 s",
             f"store+engine {fmt(t6, ' ms')} (open {r.get('restart_open_ms', '?')}, load {r.get('restart_load_ms', '?')}, "
             f"restore {r.get('restart_restore_ms', '?')}); `baton serve` spawn -> /readyz {fmt(t6s, ' ms')} "
             f"(restored {r.get('baton_restart_restored', '?')})",
             verdict(None if t6 is None else (t6 < 2000 and (t6s is None or t6s < 2000)))))
idle, open_rss, open_n = num("baton_idle_rss_kib"), num("baton_restart_rss_kib"), num("baton_restart_restored")
per = None if None in (idle, open_rss, open_n) or not open_n else (open_rss - idle) * 1024 / open_n
rows.append(("7a. Idle RSS of `baton serve`", "< 30 MB", fmt(None if idle is None else idle / 1024, " MB", 1),
             verdict(None if idle is None else idle / 1024 < 30)))
rows.append(("7b. Memory per open incident",
             "< 1 KB",
             f"engine alone {fmt(num('engine_bytes_per_incident'), ' B')} (mallinfo2); `baton serve` "
             f"{fmt(per, ' B')} ((RSS after restart with {fmt(open_n)} open - idle) / n)",
             verdict(None if per is None else per < 1024 and num('engine_bytes_per_incident') < 1024)))

table = ["| Target | Goal | Reached | |", "|---|---|---|---|"]
table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]


def kv(keys):
    return "\n".join(f"| `{k}` | {r[k]} |" for k in keys if k in r)


engine_keys = [k for k in r if k.startswith(("engine_", "parse_", "timer"))]
storage_keys = [k for k in r if k.startswith(("storage_", "create_"))]
restart_keys = [k for k in r if k.startswith("restart_")]
http_keys = [k for k in r if k.startswith(("am_", "baton_", "ttfp_", "load_"))]

cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except Exception:
        return "?"


profiles = []
for name in ("perf-dup.txt", "perf-new.txt"):
    p = os.path.join(out_dir, name)
    if os.path.exists(p) and os.path.getsize(p) > 0:
        lines = [l.rstrip() for l in open(p)][:25]
        profiles.append(f"`perf record -F 999 -p <baton>` (4 s) during the {'dedup' if 'dup' in name else 'new-incident'} "
                        f"shape: self time by library, then by symbol:\n\n```\n" + "\n".join(lines) + "\n```\n")

generated = f"""<!-- BEGIN GENERATED by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}: {os.cpu_count()} x {cpu},
{mem_gb:.0f} GiB RAM, {platform.system()} {platform.release()}; {version(['g++', '--version'])};
{version(['wrk', '-v'])}; baton binary `{r.get('baton_binary', 'none')}`.

{chr(10).join(table)}

<details><summary>Every figure of the run</summary>

| key | value |
|---|---|
{kv(engine_keys)}
{kv(storage_keys)}
{kv(restart_keys)}
{kv(http_keys)}

</details>

{chr(10).join(profiles)}
<!-- END GENERATED -->"""

begin, end = "<!-- BEGIN GENERATED", "<!-- END GENERATED -->"
doc = open(doc_path).read() if os.path.exists(doc_path) else "# Benchmarks\n\n" + begin + "\n" + end + "\n"
if begin in doc and end in doc:
    doc = doc[: doc.index(begin)] + generated + doc[doc.index(end) + len(end):]
else:
    doc = doc.rstrip() + "\n\n" + generated + "\n"
open(doc_path, "w").write(doc)
