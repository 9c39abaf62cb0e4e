#!/usr/bin/env python3
"""Renders bench/run.sh results (key value lines) into the generated parts of
docs/benchmarks.md (between the BEGIN/END GENERATED markers; prose outside stays).
A fourth argument `fallback` rewrites only the fallback-chain part (BENCH_ONLY=fallback);
`slack` only the Slack part (BENCH_ONLY=slack); `outage` only the outage-scale part (BENCH_ONLY=outage);
`ha` only the high-availability part (BENCH_ONLY=ha)."""
import datetime
import os
import platform
import subprocess
import sys

results_path, doc_path, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
only = sys.argv[4] if len(sys.argv) > 4 else None
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


def ratio(a, b):
    return None if a is None or b is None or not b else a / b


rows = []
# Targets 1 and 2: intake against Alertmanager in the same run (benchmark 4 of the issue "Pages at
# outage scale": at least 1.46x on single events, aim 2x; at least 2.54x on Alertmanager batches).
am1, b1 = num("am_single_req_per_s"), num("baton_dup_req_per_s")
x1 = ratio(b1, am1)
if x1 is not None:
    r["baton_vs_am_single_ratio"] = f"{x1:.2f}"
rows.append(("1. Events v2, 1 event/request, dedup over 100 open incidents (wrk -t1 -c16); baton / Alertmanager "
             "(`/api/v2/alerts`, 1 alert/request) in the same run",
             f">= 1.46x Alertmanager (aim 2x); Alertmanager here {fmt(am1, ' req/s')}",
             f"{fmt(b1, ' req/s')} = **{fmt(x1, 'x', 2)}** Alertmanager"
             f"{'' if x1 is None or x1 >= 2 else ' (short of the 2x aim)'} (p99 {r.get('baton_dup_p99_ms', '?')} ms, "
             f"errors {r.get('baton_dup_errors', '?')})",
             verdict(None if x1 is None else x1 >= 1.46)))
am2, b2 = num("am_batch_alerts_per_s"), num("baton_am_alerts_per_s")
x2 = ratio(b2, am2)
if x2 is not None:
    r["baton_vs_am_batch_ratio"] = f"{x2:.2f}"
rows.append(("2. Alertmanager webhook, 100 alerts/request over 10 groups; baton / Alertmanager (`/api/v2/alerts`, "
             "100 alerts/request) in the same run",
             f">= 2.54x Alertmanager; Alertmanager here {fmt(am2, ' alerts/s')}",
             f"{fmt(b2, ' alerts/s')} = **{fmt(x2, 'x', 2)}** Alertmanager (errors {r.get('baton_am_errors', '?')})",
             verdict(None if x2 is None else x2 >= 2.54)))
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

machine = (f"{os.cpu_count()} x {cpu}, {mem_gb:.0f} GiB RAM, {platform.system()} {platform.release()}; "
           f"{version(['g++', '--version'])}")
run_at = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')

generated = f"""<!-- BEGIN GENERATED by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {run_at}: {os.cpu_count()} x {cpu},
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

# ---------------------------------------------------------------- fallback chain (bench_fallback)
fb = []
f1 = num("fallback_all_p99_ms")
fb.append((f"F1. Deadline -> arrival at the sink: SMTP `MAIL FROM` / Twilio POST ({fmt(num('fallback_deadlines'))} "
           f"deadlines over {r.get('fallback_window_s', '?')} s: step deadlines and contact-chain links, half email, "
           f"half SMS paced at {r.get('fallback_sms_rate', '?')}/s)",
           "p99 < 20 ms",
           f"all p50 {fmt(num('fallback_all_p50_ms'), ' ms', 2)}, p99 {fmt(f1, ' ms', 2)}, max "
           f"{fmt(num('fallback_all_max_ms'), ' ms', 2)}; email p99 {fmt(num('fallback_email_p99_ms'), ' ms', 2)} "
           f"(max {fmt(num('fallback_email_max_ms'), ' ms', 2)}); SMS p99 {fmt(num('fallback_sms_p99_ms'), ' ms', 2)} "
           f"(max {fmt(num('fallback_sms_max_ms'), ' ms', 2)}); {fmt(num('fallback_arrived'))} of "
           f"{fmt(num('fallback_deadlines'))} arrived, {fmt(num('fallback_failed'))} failed",
           verdict(None if f1 is None else f1 < 20 and num("fallback_arrived") == num("fallback_deadlines"))))
g1, r1 = num("pace1_gap_min_ms"), num("pace1_per_s")
fb.append((f"F2. {fmt(num('pace1_sms_due'))} SMS pages due at once, one long-code sender (Twilio 1 msg/s), "
           f"{fmt(num('pace1_email_due'))} email pages due with them",
           "1 msg/s: no two sends of the sender < 1 s apart (990 ms allowed for arrival jitter)",
           f"gaps min {fmt(g1, ' ms', 1)}, median {fmt(num('pace1_gap_median_ms'), ' ms', 1)}, max "
           f"{fmt(num('pace1_gap_max_ms'), ' ms', 1)}; {fmt(num('pace1_sms_arrived'))} sent in "
           f"{fmt(num('pace1_span_s'), ' s', 1)} ({fmt(r1, ' msg/s', 3)}); the emails: max "
           f"{fmt(num('pace1_email_max_ms'), ' ms', 1)} after the deadline",
           verdict(None if g1 is None else g1 >= 990 and r1 <= 1.01 and num("pace1_sms_arrived") == num("pace1_sms_due"))))
ga, gb, s2, s1 = num("pace2_a_gap_min_ms"), num("pace2_b_gap_min_ms"), num("pace2_span_s"), num("pace1_span_s")
fb.append((f"F3. The same {fmt(num('pace2_sms_due'))} pages over two senders",
           "each sender 1 msg/s, the two in parallel (about half the time of one sender)",
           f"sender A {fmt(num('pace2_a_sms'))} at {fmt(num('pace2_a_per_s'), ' msg/s', 3)} (gap min {fmt(ga, ' ms', 1)}), "
           f"sender B {fmt(num('pace2_b_sms'))} at {fmt(num('pace2_b_per_s'), ' msg/s', 3)} (gap min {fmt(gb, ' ms', 1)}); "
           f"all in {fmt(s2, ' s', 1)} vs {fmt(s1, ' s', 1)} from one sender",
           verdict(None if None in (ga, gb, s2, s1) else ga >= 990 and gb >= 990 and s2 < 0.6 * s1
                   and num("pace2_sms_arrived") == num("pace2_sms_due"))))
fb.append(("F4. Pages and updates due together behind a busy sender (updates submitted first)",
           "every page before any update",
           f"order at the sink `{r.get('prio_order', '?')}` (B = the page holding the slot, P = page, U = update; "
           f"gaps min {fmt(num('prio_gap_min_ms'), ' ms', 1)})",
           verdict(None if "prio_pages_first" not in r else r["prio_pages_first"] == "yes")))
fb_table = ["| Target | Goal | Reached | |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in fb]
fb_keys = [k for k in r if k.startswith(("fallback_", "pace1_", "pace2_", "pace_", "prio_"))]

fallback_generated = f"""<!-- BEGIN GENERATED fallback by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {run_at}: {machine}. Load average (1/5/15 min) at the start / end of the latency run:
{r.get('fallback_loadavg_start', '?')} / {r.get('fallback_loadavg_end', '?')}; of the pacing runs:
{r.get('pace_loadavg_start', '?')} / {r.get('pace_loadavg_end', '?')}.

{chr(10).join(fb_table)}

<details><summary>Every figure of the fallback-chain run</summary>

| key | value |
|---|---|
{kv(fb_keys)}

</details>
<!-- END GENERATED fallback -->"""


# ---------------------------------------------------------------- Slack (bench/slack.sh)
sl = []
s1 = num("slack_ttfp_p99_ms")
sl.append((f"S1. Time to first Slack page at 1,000 alerts/s over {fmt(num('slack_ttfp_services'))} services and owners "
           f"(open loop; alert sent -> the DM's `chat.postMessage` at the peer)",
           "p99 < 10 ms",
           f"p50 {fmt(num('slack_ttfp_p50_ms'), ' ms', 2)}, p90 {fmt(num('slack_ttfp_p90_ms'), ' ms', 2)}, p99 "
           f"{fmt(s1, ' ms', 2)}, max {fmt(num('slack_ttfp_max_ms'), ' ms', 2)} ({fmt(num('slack_ttfp_paged'))} of "
           f"{fmt(num('slack_ttfp_requests'))} paged, {fmt(num('slack_ttfp_failed'))} failed; server histogram p99 <= "
           f"{r.get('slack_ttfp_server_p99_bucket_ms', '?')} ms)",
           verdict(None if s1 is None else s1 < 10 and num("slack_ttfp_paged") == num("slack_ttfp_requests"))))
s1n = num("slack_ttfpn_p99_ms")
sl.append(("S1b. The same with `durability: normal` (no fsync per SQLite transaction; for comparison)", "p99 < 10 ms",
           f"p50 {fmt(num('slack_ttfpn_p50_ms'), ' ms', 2)}, p90 {fmt(num('slack_ttfpn_p90_ms'), ' ms', 2)}, p99 "
           f"{fmt(s1n, ' ms', 2)}, max {fmt(num('slack_ttfpn_max_ms'), ' ms', 2)} ({fmt(num('slack_ttfpn_paged'))} of "
           f"{fmt(num('slack_ttfpn_requests'))} paged)",
           verdict(None if s1n is None else s1n < 10 and num("slack_ttfpn_paged") == num("slack_ttfpn_requests"))))
dms, alerts = num("slack_storm_dms"), num("slack_storm_alerts")
sl.append((f"S2. Storm: {fmt(alerts)} alerts on one service (distinct dedup keys) as fast as bench_load sends, "
           f"100 msg/s per channel (the configuration's maximum); one owner",
           f"every incident gets its DM within the drain ({r.get('slack_storm_window_s', '?')} s), none failed",
           f"intake {fmt(num('slack_storm_load_rate'), ' alerts/s')}; {fmt(dms)} of {fmt(alerts)} DMs, the last "
           f"{r.get('slack_storm_last_dm_s', '?')} s after the first alert, {fmt(num('slack_storm_dm_per_s'), ' DMs/s', 1)} "
           f"({fmt(num('slack_storm_calls_per_s'), ' Web API calls/s', 0)}); {fmt(num('slack_storm_failed'))} failed, "
           f"{fmt(num('slack_storm_dm_duplicates'))} duplicate DMs; baton CPU {fmt(num('slack_storm_baton_cpu_pct'), ' %')} "
           f"of one core over the storm",
           verdict(None if dms is None else dms == alerts and num("slack_storm_failed") == 0)))
pmax = [num(f"slack_paced_{k}_max_per_second") for k in ("service", "dm")]
sl.append((f"S3. Pacing at Slack's 1 msg/s per channel: the same storm ({fmt(num('slack_paced_alerts'))} alerts), "
           f"observed for {r.get('slack_paced_window_s', '?')} s",
           "<= 1 `chat.postMessage` per channel in any calendar second at the peer",
           f"service channel: max {fmt(pmax[0])} per second ({fmt(num('slack_paced_service_max_per_990ms'))} in the worst "
           f"990 ms window, gap min {fmt(num('slack_paced_service_gap_min_ms'), ' ms', 1)}); owner's DM channel: max "
           f"{fmt(pmax[1])} per second (gap min {fmt(num('slack_paced_dm_gap_min_ms'), ' ms', 1)}); "
           f"{fmt(num('slack_paced_dms'))} of {fmt(num('slack_paced_alerts'))} DMs out in the window "
           f"({fmt(num('slack_paced_dm_per_s'), '/s', 2)}; all of them would take "
           f"{fmt(None if num('slack_paced_alerts') is None else num('slack_paced_alerts') / 3600, ' h', 1)} at this pace)",
           verdict(None if None in pmax else max(pmax) <= 1)))
smax = [num(f"slack_storm_{k}_max_per_second") for k in ("service", "dm")]
sl.append(("S4. Pacing at 100 msg/s per channel (storm S2)",
           "<= 100 `chat.postMessage` per channel in any calendar second at the peer",
           f"service channel: max {fmt(smax[0])} per second ({fmt(num('slack_storm_service_max_per_990ms'))} in the "
           f"worst 990 ms window, gap min {fmt(num('slack_storm_service_gap_min_ms'), ' ms', 1)}, median "
           f"{fmt(num('slack_storm_service_gap_median_ms'), ' ms', 1)}); DM channel: max {fmt(smax[1])} per second "
           f"({fmt(num('slack_storm_dm_max_per_990ms'))} per 990 ms, gap min {fmt(num('slack_storm_dm_gap_min_ms'), ' ms', 1)})",
           verdict(None if None in smax else max(smax) <= 100)))
upd = num("slack_storm_dm_per_s_during_updates")
sl.append((f"S5. Pages and updates: incidents 1-50 resolved during storm S2, while "
           f"{fmt(num('slack_storm_dms_pending_at_resolve'))} first pages wait for the channel pacing",
           "updates take no first page's slot: the DM rate holds (>= 90 of 100/s) while they go out",
           f"{fmt(num('slack_storm_updates'))} `chat.update` {fmt(num('slack_storm_update_first_ms'), ' ms', 0)}-"
           f"{fmt(num('slack_storm_update_last_ms'), ' ms', 0)} after the first resolve call (the 50 calls took "
           f"{fmt(num('slack_storm_resolve_calls_ms'), ' ms', 0)}), i.e. ahead of the waiting first pages; DMs during "
           f"them {fmt(upd, '/s', 1)}",
           verdict(None if upd is None else upd >= 90)))
sl_table = ["| Target | Goal | Reached | |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in sl]
sl_keys = [k for k in r if k.startswith("slack_")]

slack_generated = f"""<!-- BEGIN GENERATED slack by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {run_at}: {machine}; baton binary `{r.get('slack_baton_binary', r.get('baton_binary', '?'))}`. Load average
(1/5/15 min) at the start / end of the Slack stage: {r.get('slack_loadavg_start', '?')} / {r.get('slack_loadavg_end', '?')}.

{chr(10).join(sl_table)}

<details><summary>Every figure of the Slack run</summary>

| key | value |
|---|---|
{kv(sl_keys)}

</details>
<!-- END GENERATED slack -->"""


# ---------------------------------------------------------------- outage scale (bench/outage.sh)
def lat(key, digits=0):
    return (f"p50 {fmt(num(key + '_p50_ms'), ' ms', digits)}, p99 {fmt(num(key + '_p99_ms'), ' ms', digits)}, "
            f"max {fmt(num(key + '_max_ms'), ' ms', digits)}")


def runs(key):
    each = r.get(key + "_p99_ms_each_run")
    return f" (p99 of each of the {r.get(key + '_runs', '?')} runs: {each} ms; the median run shown)" if each else ""


def all_paged(key):
    return num(key + "_paged") is not None and num(key + "_paged") == num(key + "_alerts")


ou = []
am_p99, slow_p99, slowt_p99 = num("outage_am_p99_ms"), num("outage_slow_p99_ms"), num("outage_slowt_p99_ms")
burst = fmt(num("outage_slow_alerts"))
ou.append((f"O1. Slow webhook: {burst} alerts at once (Events v2, 16 senders), the sink answers each page after "
           f"300 ms; alert sent -> its page at the sink. Dispatch limits at their defaults "
           f"(`max_in_flight_per_channel` {r.get('outage_default_max_in_flight', '?')}, `max_connections_per_host` "
           f"{r.get('outage_default_max_connections', '?')})",
           f"p99 <= 2 s and <= Alertmanager's p99 ({fmt(am_p99, ' ms')})",
           f"{lat('outage_slow')}{runs('outage_slow')}; {fmt(num('outage_slow_paged'))} of {fmt(num('outage_slow_alerts'))} paged, "
           f"at most {fmt(num('outage_slow_sink_max_held'))} held by the sink at once; last page "
           f"{fmt(num('outage_slow_last_page_after_first_send_ms'), ' ms')} after the first alert",
           verdict(None if slow_p99 is None else slow_p99 <= 2000 and (am_p99 is None or slow_p99 <= am_p99)
                   and all_paged("outage_slow"))))
ou.append((f"O1b. The same with `max_connections_per_host: 0` (no limit) and `max_in_flight_per_channel: "
           f"{burst.replace(',', '')}`",
           f"p99 <= 2 s and <= Alertmanager's p99 ({fmt(am_p99, ' ms')})",
           f"{lat('outage_slowt')}{runs('outage_slowt')}; {fmt(num('outage_slowt_paged'))} of {fmt(num('outage_slowt_alerts'))} paged, "
           f"{fmt(num('outage_slowt_sink_max_connections'))} connections at once; last page "
           f"{fmt(num('outage_slowt_last_page_after_first_send_ms'), ' ms')} after the first alert",
           verdict(None if slowt_p99 is None else slowt_p99 <= 2000 and (am_p99 is None or slowt_p99 <= am_p99)
                   and all_paged("outage_slowt"))))
ou.append((f"O1c. Alertmanager {r.get('outage_am_version', '0.25')}, the same burst to `/api/v2/alerts` (one alert "
           f"per request), webhook receiver at the same sink, `group_by: ['...']`, `group_wait: 0s`",
           "(reference)",
           f"{lat('outage_am')}{runs('outage_am')}; {fmt(num('outage_am_paged'))} of {fmt(num('outage_am_alerts'))} paged, "
           f"{fmt(num('outage_am_sink_max_connections'))} connections at once; peak RSS "
           f"{fmt(None if num('outage_am_peak_rss_kib') is None else num('outage_am_peak_rss_kib') / 1024, ' MB', 1)} "
           f"(baton: {fmt(None if num('outage_slow_peak_rss_kib') is None else num('outage_slow_peak_rss_kib') / 1024, ' MB', 1)})",
           "n/a"))
s300 = num("outage_slow300_p99_ms")
ou.append(("O1d. The issue's shape: 300 alerts at once, dispatch defaults (the issue measured the blocking "
           "dispatcher at p50 11.1 s, p99 22.1 s, and Alertmanager at p99 0.27 s)",
           "p99 <= 2 s",
           f"{lat('outage_slow300')}{runs('outage_slow300')}; {fmt(num('outage_slow300_paged'))} of {fmt(num('outage_slow300_alerts'))} paged",
           verdict(None if s300 is None else s300 <= 2000 and all_paged("outage_slow300"))))
d99 = num("outage_down_p99_ms")
ou.append((f"O2. Channel down: SMTP refuses connections; chain email at 0 s, webhook at 10 min; "
           f"{fmt(num('outage_down_alerts'))} alerts at 50/s; alert sent -> the webhook page at the sink",
           "<= 1 s",
           f"{lat('outage_down', 1)}; {fmt(num('outage_down_paged'))} of {fmt(num('outage_down_alerts'))} paged by "
           f"webhook; {fmt(num('outage_down_email_not_delivered'))} email attempts failed (first attempts and retries), none delivered",
           verdict(None if d99 is None else num("outage_down_max_ms") <= 1000 and all_paged("outage_down"))))
peak = num("outage_mem_peak_rss_kib")
ou.append((f"O3. Memory: {fmt(num('outage_mem_alerts'))} deliveries in flight at once (sink answers after "
           f"{fmt(num('outage_mem_delay_ms'))} ms; `max_in_flight_per_channel` {fmt(num('outage_mem_alerts'))}, "
           f"no connection limit): peak VmRSS of baton (sampled every 10 ms)",
           "< 200 MB",
           f"{fmt(None if peak is None else peak / 1024, ' MB', 1)} (idle "
           f"{fmt(None if num('outage_mem_idle_rss_kib') is None else num('outage_mem_idle_rss_kib') / 1024, ' MB', 1)}; "
           f"sink held {fmt(num('outage_mem_sink_max_held'))} at once over "
           f"{fmt(num('outage_mem_sink_max_connections'))} connections; {fmt(num('outage_mem_delivered'))} delivered)",
           verdict(None if peak is None else peak / 1024 < 200 and num("outage_mem_sink_max_held") == num("outage_mem_alerts"))))
wps = num("outage_idle_wakeups_per_s")
ou.append((f"O4. Idle: a fresh baton with nothing to do, after 3 s: context switches of all "
           f"{fmt(num('outage_idle_threads'))} threads over {fmt(num('outage_idle_window_s'), ' s', 1)}",
           "about 0 wake-ups/s",
           f"{fmt(wps, '/s', 2)} ({fmt(num('outage_idle_wakeups'))} in the window: "
           f"`{r.get('outage_idle_wakeups_by_thread', '?')}`; CPU {fmt(num('outage_idle_cpu_ms'), ' ms')})",
           verdict(None if wps is None else wps < 1)))
t99 = num("outage_ttfp_p99_ms")
ou.append((f"O5. Time to first page at 1,000 new incidents/s for {fmt(num('outage_ttfp_alerts'))} alerts (open loop, "
           f"fast sink; intended send -> sink arrival), on the baton of O4",
           "p99 < 5 ms (target 4 above)",
           f"{lat('outage_ttfp', 2)} ({fmt(num('outage_ttfp_paged'))} of {fmt(num('outage_ttfp_alerts'))} paged; "
           f"server histogram p99 <= {r.get('outage_ttfp_server_p99_bucket_ms', '?')} ms)",
           verdict(None if t99 is None else t99 < 5 and all_paged("outage_ttfp"))))


# O6: slow providers (Slack, Twilio, SMTP). "pacing" = what an ideal pacer at the configured rate would
# add (per DM channel / sending number), "beyond pacing" = the rest (bench/outage_analyze.py).
def p6_lat(key):
    k = f"outage_{key}"
    return (f"p50 {fmt(num(k + '_p50_ms'), ' ms')}, p99 {fmt(num(k + '_p99_ms'), ' ms')}, max "
            f"{fmt(num(k + '_max_ms'), ' ms')}; pacing part p50 {fmt(num(k + '_pacing_p50_ms'), ' ms')}, p99 "
            f"{fmt(num(k + '_pacing_p99_ms'), ' ms')}; **beyond pacing p50 {fmt(num(k + '_beyond_pacing_p50_ms'), ' ms')}, "
            f"p99 {fmt(num(k + '_beyond_pacing_p99_ms'), ' ms')}**, max {fmt(num(k + '_beyond_pacing_max_ms'), ' ms')}")


def p6_count(key):
    k = f"outage_{key}"
    return (f"{fmt(num(k + '_paged'))} of {fmt(num(k + '_alerts'))} paged, the last "
            f"{fmt(num(k + '_last_page_after_first_send_ms'), ' ms')} after the first alert "
            f"({fmt(num(k + '_pages_per_s'), ' pages/s', 1)} at the provider); at most "
            f"{fmt(num(k + '_sink_max_held'))} held by the provider at once; "
            f"{fmt(num(k + '_not_delivered'))} failed attempts (retried)")


def p6_ok(key, need_all=True):
    k = f"outage_{key}"
    b99 = num(k + "_beyond_pacing_p99_ms")
    if b99 is None:
        return None
    return b99 <= 2000 and (not need_all or all_paged(k))


p6_owners, p6_delay = fmt(num("outage_p6_owners")), fmt(num("outage_p6_delay_ms"))
p6_burst = fmt(num("outage_p6slack_alerts"))
ou.append((f"O6a. Slow Slack: {p6_burst} alerts at once (Events v2, 16 senders) over {p6_owners} services, each "
           f"with its own owner paged only by Slack (HTTP mode); the fake Web API answers every call after "
           f"{p6_delay} ms; alert sent -> the DM's `chat.postMessage` at the fake. DM channels already open (one "
           f"warm-up page per owner), `messages_per_second_per_channel: {r.get('outage_p6slack_rate', '?')}` (the maximum)",
           "p99 <= 2 s beyond what the provider's pacing forces",
           f"{p6_lat('p6slack')}; {p6_count('p6slack')}; {fmt(num('outage_p6slack_conversations_open_in_burst'))} "
           f"`conversations.open` in the burst",
           verdict(p6_ok("p6slack"))))
ou.append((f"O6b. The same with the DM channels not open yet (a fresh baton: each owner's `conversations.open` "
           f"during the burst, Slack's tier 50/min)",
           "p99 <= 2 s beyond what the provider's pacing forces",
           f"{p6_lat('p6slackc')}; {p6_count('p6slackc')}; {fmt(num('outage_p6slackc_conversations_open_in_burst'))} "
           f"`conversations.open` at the fake (the pacing part counts only `chat.postMessage`'s rate; the failed "
           f"attempts are an owner's further pages refused by baton's tier pacer while the first page's "
           f"`conversations.open` is in flight, retried about 1.2 s later)",
           verdict(p6_ok("p6slackc"))))
ou.append((f"O6c. Slow Slack at its defaults: 1 `chat.postMessage` per second per channel, DM channels not open yet; "
           f"the same burst, drained until every DM is out (at most {fmt(num('outage_p6slackd_drain_s'), ' s')})",
           "(paced rate) beyond pacing p99 <= 2 s",
           f"{p6_lat('p6slackd')}; {p6_count('p6slackd')}; at most "
           f"{fmt(num('outage_p6slackd_max_pages_per_second_per_key'))} per channel in a calendar second "
           f"(shortest gap {fmt(num('outage_p6slackd_min_gap_per_key_ms'), ' ms')}: the pacer times the start of a "
           f"page, and the first one first waits for `conversations.open`)",
           verdict(p6_ok("p6slackd"))))
tw_all = num("outage_p6twiliod_alerts")
tw_rate = num("outage_p6twiliod_pages_per_s")
ou.append((f"O6d. Slow Twilio: the same burst over the same owners, paged only by SMS; the fake Messages API answers "
           f"after {p6_delay} ms; alert sent -> the Messages POST at the fake. One sending number (baton paces per "
           f"`from` / Messaging Service; one of them per configuration), `messages_per_second: "
           f"{r.get('outage_p6twilio_rate', '?')}` (the configuration's maximum)",
           "p99 <= 2 s beyond what the provider's pacing forces",
           f"{p6_lat('p6twilio')}; {p6_count('p6twilio')}",
           verdict(p6_ok("p6twilio"))))
ou.append((f"O6e. Slow Twilio at the default 1 message/s per sending number: the same burst, observed for "
           f"{fmt(num('outage_p6twiliod_window_s'), ' s')} after it",
           "(paced rate) beyond pacing p99 <= 2 s for the pages sent",
           f"{fmt(num('outage_p6twiliod_paged'))} of {fmt(tw_all)} out in the window at "
           f"{fmt(tw_rate, ' msg/s', 2)} (at most {fmt(num('outage_p6twiliod_max_pages_per_second_per_key'))} in a "
           f"calendar second; all {fmt(tw_all)} would take "
           f"{fmt(None if not tw_rate or tw_all is None else tw_all / tw_rate / 60, ' min', 1)}); of those: "
           f"{p6_lat('p6twiliod')}",
           verdict(p6_ok("p6twiliod", need_all=False))))
sm_rate = num("outage_p6smtp_pages_per_s")
ou.append((f"O6f. Slow SMTP relay: the same burst over the same owners, paged only by email (`smtp://`, "
           f"`starttls: optional`); the relay answers the end of each message's data after {p6_delay} ms; alert "
           f"sent -> that final `.` at the relay. No pacing. Drained until every message is in (at most "
           f"{fmt(num('outage_p6smtp_drain_s'), ' s')})",
           "p99 <= 2 s",
           f"{fmt(num('outage_p6smtp_paged'))} of {fmt(num('outage_p6smtp_alerts'))} in "
           f"{fmt(num('outage_p6smtp_observed_s'), ' s', 1)} at {fmt(sm_rate, ' messages/s', 1)}, at most "
           f"{fmt(num('outage_p6smtp_sink_max_held'))} in flight at once over "
           f"{fmt(num('outage_p6smtp_sink_connections'))} connection(s) in all"
           f"{'' if all_paged('outage_p6smtp') or not sm_rate else ' (all of them would take ' + fmt(num('outage_p6smtp_alerts') / sm_rate, ' s') + ')'}"
           f"; of those: p50 "
           f"{fmt(num('outage_p6smtp_p50_ms'), ' ms')}, p99 {fmt(num('outage_p6smtp_p99_ms'), ' ms')}, max "
           f"{fmt(num('outage_p6smtp_max_ms'), ' ms')}",
           verdict(p6_ok("p6smtp"))))
ou_table = ["| Target | Goal | Reached | |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in ou]
ou_keys = [k for k in r if k.startswith("outage_")]

outage_generated = f"""<!-- BEGIN GENERATED outage by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {run_at}: {machine}; baton binary `{r.get('outage_baton_binary', '?')}`. Load average
(1/5/15 min) at the start / end of the stage: {r.get('outage_loadavg_start', '?')} / {r.get('outage_loadavg_end', '?')}.

{chr(10).join(ou_table)}

<details><summary>Every figure of the outage-scale run</summary>

| key | value |
|---|---|
{kv(ou_keys)}

</details>
<!-- END GENERATED outage -->"""


# ---------------------------------------------------------------- high availability (bench/ha.sh)
def ha_sustained(name):
    """Requests per second over the load and the drain of the inbox after it (three instances)."""
    done, secs, drain = num(f"ha_{name}_done"), num(f"ha_{name}_seconds"), num(f"ha_{name}_drain_s")
    if done is None or not secs:
        return None
    if drain is None:
        return done / secs
    return None if drain < 0 else done / (secs + drain)


def ha_rate(name, per=1):
    v = num(f"ha_{name}_rate")
    return None if v is None else v * per


def ha_lat(name):
    disk = (f"; disk fdatasync p50 {r[f'ha_{name}_fsync_p50_ms']} ms, p99 {r.get(f'ha_{name}_fsync_p99_ms', '?')} ms "
            f"meanwhile" if f"ha_{name}_fsync_p50_ms" in r else "")
    return (f"p50 {r.get(f'ha_{name}_p50_ms', '?')} ms, p99 {r.get(f'ha_{name}_p99_ms', '?')} ms, "
            f"errors {r.get(f'ha_{name}_errors', '?')}{disk}")


ha = []
for shape, per, unit, what in (("single", 1, "req/s", "Events v2, 1 event/request, dedup over 100 open incidents"),
                               ("batch", 100, "alerts/s", "Alertmanager webhook, 100 alerts/request over 10 groups")):
    am = ha_rate(f"am_{shape}", per)
    rr, sus = ha_rate(f"pg3_{shape}", per), ha_sustained(f"pg3_{shape}")
    sus = None if sus is None else sus * per
    x = ratio(sus, am)
    drain = num(f"ha_pg3_{shape}_drain_s")
    ha.append((f"H{1 if shape == 'single' else 2}. Intake on PostgreSQL, {what}: 3 instances behind a round-robin "
               f"client ({r.get('ha_rr_conns', '?')} connections in all, closed loop, {r.get('ha_duration_s', '?')} s); "
               f"Alertmanager {r.get('ha_am_version', '0.25')} in the same run, same client, 16 connections",
               f">= Alertmanager's rate; Alertmanager here {fmt(am, ' ' + unit)}",
               f"**{fmt(sus, ' ' + unit)} sustained = {fmt(x, 'x', 2)} Alertmanager** (answered 2xx at "
               f"{fmt(rr, ' ' + unit)}, {ha_lat(f'pg3_{shape}')}; the inbox held "
               f"{fmt(num(f'ha_pg3_{shape}_inbox_at_end'))} rows at the end of the load and took "
               f"{fmt(drain, ' s', 2)} to drain; sustained = answered / (load + drain)); requests per instance "
               f"{'/'.join(r.get(k, '?') for k in sorted(k for k in r if k.startswith(f'ha_pg3_{shape}_port_')))}",
               verdict(None if x is None else x >= 1 and num(f"ha_pg3_{shape}_errors") == 0)))
    ha.append((f"H{1 if shape == 'single' else 2}b. The same shape on one instance: PostgreSQL, and SQLite "
               f"(`durability: full`), 16 connections",
               "(reference)",
               f"PostgreSQL 1 instance {fmt(ha_rate(f'pg1_{shape}', per), ' ' + unit)} = "
               f"{fmt(ratio(ha_rate(f'pg1_{shape}', per), am), 'x', 2)} Alertmanager ({ha_lat(f'pg1_{shape}')}); "
               f"SQLite {fmt(ha_rate(f'sqlite_{shape}', per), ' ' + unit)} = "
               f"{fmt(ratio(ha_rate(f'sqlite_{shape}', per), am), 'x', 2)} Alertmanager ({ha_lat(f'sqlite_{shape}')})",
               "n/a"))
tk_max = num("ha_takeover_max_ms")
tk_ok = None if tk_max is None else (tk_max <= 5000 and num("ha_takeover_missing") == 0
                                     and num("ha_takeover_paged_before_kill") == 0)
ha.append((f"H3. Takeover: SIGKILL of the owner (3 instances, lease TTL 3 s, renewal 1 s) -> the successor's first "
           f"page of a step that fell due meanwhile, at the sink; {fmt(num('ha_takeover_kills'))} kills",
           "<= 5 s (max over the kills)",
           f"p50 {fmt(None if num('ha_takeover_p50_ms') is None else num('ha_takeover_p50_ms') / 1000, ' s', 2)}, "
           f"max {fmt(None if tk_max is None else tk_max / 1000, ' s', 2)}, min "
           f"{fmt(None if num('ha_takeover_min_ms') is None else num('ha_takeover_min_ms') / 1000, ' s', 2)} "
           f"(each, ms: {r.get('ha_takeover_each_ms', '?')}); of which the lease (kill -> the successor owns it, by "
           f"its log) max {fmt(num('ha_takeover_lease_max_ms'), ' ms')} and loading the state "
           f"({fmt(num('ha_takeover_open_incidents'))} open incidents and more) max "
           f"{fmt(num('ha_takeover_load_max_ms'), ' ms')}; {fmt(num('ha_takeover_measured'))} of "
           f"{fmt(num('ha_takeover_kills'))} paged by the successor; {fmt(num('ha_takeover_duplicate_deliveries'))} "
           f"deliveries of an `Idempotency-Key` seen before; at the sink: `{r.get('ha_takeover_sink_events', '?')}`",
           verdict(tk_ok)))
dup_lost, dup_multi = num("ha_dup_lost"), num("ha_dup_incidents_with_several_keys")
ha.append((f"H4. Duplicates after a takeover: {fmt(num('ha_dup_r1_burst'))} new incidents at once (round-robin "
           f"over 3 instances), each paged by webhook to a sink answering after {fmt(num('ha_dup_delay_ms'))} ms; "
           f"the owner SIGKILLed once every page had reached the sink; arrivals counted per `Idempotency-Key`; "
           f"{fmt(num('ha_dup_rounds'))} rounds",
           "no page lost; duplicates measured (at-least-once)",
           f"**{fmt(num('ha_dup_per_1000_in_flight'), '', 0)} duplicate deliveries per 1,000 pages in flight** "
           f"({fmt(num('ha_dup_duplicates'))} duplicates; in flight = sent but not recorded as delivered at the kill: "
           f"{fmt(num('ha_dup_pending_at_kill'))}, of which {fmt(num('ha_dup_unanswered_at_kill'))} not yet answered by "
           f"the sink and the rest answered, their outcome not yet committed); {fmt(num('ha_dup_per_1000'), '', 0)} per "
           f"1,000 pages sent (rounds: {r.get('ha_dup_per_1000_each', '?')}); lost {fmt(dup_lost)}; incidents paged "
           f"under more than one key {fmt(dup_multi)}; round 1: every page recorded delivered "
           f"{fmt(num('ha_dup_r1_takeover_resume_ms'), ' ms')} after the kill",
           verdict(None if dup_lost is None else dup_lost == 0 and dup_multi == 0)))
ha_table = ["| Target | Goal | Reached | |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in ha]
ha_keys = [k for k in r if k.startswith("ha_")]

ha_generated = f"""<!-- BEGIN GENERATED ha by bench/report.py from `bash bench/run.sh`; edits here are overwritten -->
Run of {run_at}: {machine}; baton binary `{r.get('ha_baton_binary', '?')}`.
PostgreSQL {r.get('ha_pg_version', '?')}: fsync {r.get('ha_pg_fsync', '?')}, synchronous_commit {r.get('ha_pg_synchronous_commit', '?')},
wal_sync_method {r.get('ha_pg_wal_sync_method', '?')}. Load average (1/5/15 min) at the start / end of the stage:
{r.get('ha_loadavg_start', '?')} / {r.get('ha_loadavg_end', '?')}.

{chr(10).join(ha_table)}

<details><summary>Every figure of the high-availability run</summary>

| key | value |
|---|---|
{kv(ha_keys)}

</details>
<!-- END GENERATED ha -->"""


def replace_block(doc, begin, end, text):
    if begin in doc and end in doc:
        return doc[: doc.index(begin)] + text + doc[doc.index(end) + len(end):]
    return doc.rstrip() + "\n\n" + text + "\n"


doc = open(doc_path).read() if os.path.exists(doc_path) else "# Benchmarks\n"
if only not in ("fallback", "slack", "outage", "ha"):
    doc = replace_block(doc, "<!-- BEGIN GENERATED by", "<!-- END GENERATED -->", generated)
if fb_keys:
    doc = replace_block(doc, "<!-- BEGIN GENERATED fallback", "<!-- END GENERATED fallback -->", fallback_generated)
if sl_keys:
    doc = replace_block(doc, "<!-- BEGIN GENERATED slack", "<!-- END GENERATED slack -->", slack_generated)
if ou_keys:
    doc = replace_block(doc, "<!-- BEGIN GENERATED outage", "<!-- END GENERATED outage -->", outage_generated)
if ha_keys:
    doc = replace_block(doc, "<!-- BEGIN GENERATED ha", "<!-- END GENERATED ha -->", ha_generated)
open(doc_path, "w").write(doc)
