#!/usr/bin/env python3
"""Figures of the Slack stage (bench/slack.sh) as `key value` lines for report.py.
Usage: slack_analyze.py OUT_DIR STORM_ALERTS. Reads bench_load's sent files
("<seq> <intended ns> <actual ns> <status>"), bench_slack_peer's logs
("<arrival ns> <method> <channel> <seq>") and the metrics taken before each stop."""
import math
import os
import sys

out, storm = sys.argv[1], int(sys.argv[2])


def path(name):
    return os.path.join(out, name)


def pct(values, p):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))] if v else float("nan")


def load_sent(name):
    sent = {}
    if os.path.exists(path(name)):
        for line in open(path(name)):
            seq, intended, actual, status = line.split()
            sent[int(seq)] = (int(intended), int(status))
    return sent


def load_peer(name):
    hits = []
    if os.path.exists(path(name)):
        for line in open(path(name)):
            t, method, channel, seq = line.split()
            hits.append((int(t), method, channel, int(seq)))
    hits.sort()
    return hits


def first_read(name):
    try:
        return int(open(path(name)).readline())
    except (OSError, ValueError):
        return None


def emit(key, value):
    print(key, value)


def per_channel(posts):
    """posts: [(t, channel)] -> {channel: [t...]} sorted."""
    by = {}
    for t, ch in posts:
        by.setdefault(ch, []).append(t)
    return {ch: sorted(ts) for ch, ts in by.items()}


def max_per_second(ts):
    """The most posts in one calendar second (CLOCK_REALTIME) at the peer."""
    by = {}
    for t in ts:
        by[t // 1_000_000_000] = by.get(t // 1_000_000_000, 0) + 1
    return max(by.values(), default=0)


def max_in_window(ts, window_ns=990_000_000):
    """The most posts in any sliding window [t, t + 990 ms) (10 ms allowed for arrival jitter)."""
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best


def min_gap_ms(ts):
    gaps = [(b - a) / 1e6 for a, b in zip(ts, ts[1:])]
    return (min(gaps), pct(gaps, 50)) if gaps else (float("nan"), float("nan"))


def server_p99_bucket(name):
    buckets, count = [], 0
    if os.path.exists(path(name)):
        for line in open(path(name)):
            if line.startswith("baton_time_to_first_page_seconds_bucket"):
                le = line.split('le="')[1].split('"')[0]
                buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
            elif line.startswith("baton_time_to_first_page_seconds_count"):
                count = float(line.split()[-1])
    return next((le for le, c in buckets if count and c >= 0.99 * count), float("nan"))


def notif(name, result):
    if os.path.exists(path(name)):
        for line in open(path(name)):
            if line.startswith(f'baton_notifications_total{{channel="slack",result="{result}"}}'):
                return int(float(line.split()[-1]))
    return 0


# ---------------------------------------------------------------- 1. time to first Slack page
def ttfp_figures(label):
    sent = load_sent(f"slack-{label}-sent.txt")
    hits = load_peer(f"slack-peer-{label}.log")
    dm = {}
    for t, method, channel, seq in hits:
        if method == "chat.postMessage" and channel.startswith("D") and seq in sent and seq not in dm:
            dm[seq] = t
    lat = [(dm[s] - sent[s][0]) / 1e6 for s in dm]
    emit(f"slack_{label}_requests", len(sent))
    emit(f"slack_{label}_accepted", sum(1 for s in sent.values() if 200 <= s[1] < 300))
    emit(f"slack_{label}_paged", len(lat))
    for p in (50, 90, 99, 100):
        emit(f"slack_{label}_{'max' if p == 100 else 'p%d' % p}_ms", "%.2f" % pct(lat, p))
    emit(f"slack_{label}_server_p99_bucket_ms", "%.1f" % (server_p99_bucket(f"slack-metrics-{label}.txt") * 1000))
    calls = {}
    for _, method, _, _ in hits:
        calls[method] = calls.get(method, 0) + 1
    emit(f"slack_{label}_calls", " ".join(f"{m}={c}" for m, c in sorted(calls.items())))
    emit(f"slack_{label}_channel_posts", sum(1 for t, m, ch, s in hits if m == "chat.postMessage" and ch.startswith("C")))
    emit(f"slack_{label}_failed", notif(f"slack-metrics-{label}.txt", "failed"))
    emit(f"slack_{label}_retried", notif(f"slack-metrics-{label}.txt", "retry"))


ttfp_figures("ttfp")
if os.path.exists(path("slack-ttfpn-sent.txt")):
    ttfp_figures("ttfpn")


# ---------------------------------------------------------------- 2./3. storms on one service
def storm_figures(label, window_end_file):
    sent = load_sent(f"slack-{label}-sent.txt")
    hits = load_peer(f"slack-peer-{label}.log")
    t0 = min((v[0] for v in sent.values()), default=None)
    t_end = first_read(window_end_file)
    posts = [(t, ch) for t, m, ch, s in hits if m == "chat.postMessage"]
    dms = {}
    for t, m, ch, s in hits:
        if m == "chat.postMessage" and ch.startswith("D") and s >= 0 and s not in dms:
            dms[s] = t
    emit(f"slack_{label}_alerts", len(sent))
    emit(f"slack_{label}_accepted", sum(1 for s in sent.values() if 200 <= s[1] < 300))
    emit(f"slack_{label}_dms", len(dms))
    emit(f"slack_{label}_dm_duplicates",
         sum(1 for t, m, ch, s in hits if m == "chat.postMessage" and ch.startswith("D")) - len(dms))
    if t0 is not None and t_end is not None:
        emit(f"slack_{label}_window_s", "%.1f" % ((t_end - t0) / 1e9))
    if dms:
        ts = sorted(dms.values())
        emit(f"slack_{label}_first_dm_ms", "%.1f" % ((ts[0] - t0) / 1e6))
        emit(f"slack_{label}_last_dm_s", "%.2f" % ((ts[-1] - t0) / 1e9))
        span = (ts[-1] - ts[0]) / 1e9
        emit(f"slack_{label}_dm_per_s", "%.2f" % ((len(ts) - 1) / span if span > 0 else float("nan")))
    # Every Slack call per second of the run (all methods), from the first to the last.
    if hits:
        span = (hits[-1][0] - hits[0][0]) / 1e9
        emit(f"slack_{label}_calls", len(hits))
        emit(f"slack_{label}_calls_per_s", "%.1f" % (len(hits) / span if span > 0 else float("nan")))
    # Pacing per channel: the service channel and the owner's DM channel.
    for ch, ts in sorted(per_channel(posts).items()):
        kind = "service" if ch.startswith("C") else "dm"
        gmin, gmed = min_gap_ms(ts)
        emit(f"slack_{label}_{kind}_channel", ch)
        emit(f"slack_{label}_{kind}_posts", len(ts))
        emit(f"slack_{label}_{kind}_max_per_second", max_per_second(ts))
        emit(f"slack_{label}_{kind}_max_per_990ms", max_in_window(ts))
        emit(f"slack_{label}_{kind}_gap_min_ms", "%.1f" % gmin)
        emit(f"slack_{label}_{kind}_gap_median_ms", "%.1f" % gmed)
        span = (ts[-1] - ts[0]) / 1e9
        emit(f"slack_{label}_{kind}_per_s", "%.2f" % ((len(ts) - 1) / span if span > 0 else float("nan")))
    # Order: incidents' first pages go out in the order the alerts were sent (inversions
    # among DMs: a later-sent alert's DM before an earlier one's).
    order = [s for s, _ in sorted(dms.items(), key=lambda kv: kv[1])]
    ranks = sorted(order, key=lambda s: sent[s][0] if s in sent else 0)
    rank = {s: i for i, s in enumerate(ranks)}
    late = max((rank[s] - i for i, s in enumerate(order)), default=0)
    emit(f"slack_{label}_dm_max_out_of_order", late)
    emit(f"slack_{label}_failed", notif(f"slack-metrics-{label}.txt", "failed"))
    emit(f"slack_{label}_retried", notif(f"slack-metrics-{label}.txt", "retry"))
    return hits, dms, t0


storm_figures("paced", "slack-paced-t1.txt")
hits, dms, t0 = storm_figures("storm", "slack-storm-t1.txt")

# Updates during the storm: chat.update of the 50 resolved incidents vs the first pages around them.
try:
    r0, r1 = [int(x) for x in open(path("slack-storm-resolve.txt")).read().split()]
except (OSError, ValueError):
    r0 = r1 = None
updates = [t for t, m, ch, s in hits if m == "chat.update"]
emit("slack_storm_updates", len(updates))
if updates and r0 is not None:
    emit("slack_storm_resolve_s", "%.2f" % ((r0 - t0) / 1e9))
    emit("slack_storm_resolve_calls_ms", "%.0f" % ((r1 - r0) / 1e6))
    emit("slack_storm_update_first_ms", "%.1f" % ((min(updates) - r0) / 1e6))
    emit("slack_storm_update_last_ms", "%.1f" % ((max(updates) - r0) / 1e6))
    u0, u1 = min(updates), max(updates)
    dm_times = sorted(dms.values())
    in_window = sum(1 for t in dm_times if u0 <= t <= u1)
    emit("slack_storm_dms_during_updates", in_window)
    emit("slack_storm_update_window_ms", "%.1f" % ((u1 - u0) / 1e6))
    emit("slack_storm_dm_per_s_during_updates", "%.1f" % (in_window / ((u1 - u0) / 1e9) if u1 > u0 else float("nan")))
    emit("slack_storm_dms_pending_at_resolve", sum(1 for t in dm_times if t > r0) + (storm - len(dms)))
