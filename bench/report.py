#!/usr/bin/python3
"""Turns the JSON lines of one bench/run.sh run into BENCHMARKS.md (stdout):
the table, how to reproduce it, and which of imagestream's targets were met.
Every comparison is between systems of the same run: the machine is shared
and noisy, so only ratios measured side by side mean something."""

import argparse
import json
import os
import platform
import subprocess

SCENARIOS = {
    "a": "10 viewers, VGA, 3000 fps",
    "b": "10 viewers, 1080p, 300 fps",
    "c": "100 viewers, 1080p, 30 fps",
    "d": "1000 viewers, VGA, 30 fps",
    "e": "10 healthy + 2 stuck viewers, 1080p, 60 fps, 30 s",
    "f": "1 viewer, VGA, 30 fps (latency)",
}
MIB = 1024.0


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    distro = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return f"{distro}, kernel {platform.release()}, {os.cpu_count()} x {cpu}"


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    return {
        "GStreamer": out(["gst-launch-1.0", "--gst-version"]).split()[-1],
        "Node.js": out(["node", "--version"]),
        "tornado": out(["/usr/bin/python3", "-c", "import tornado; print(tornado.version)"]),
    }


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


# How the repeated runs of one system in one scenario combine: the worst run
# for delivery, reordering and memory (a target must hold in every run), the
# median for the rest (a burst of outside load hits one run, not all).
WORST_LOW = ("delivery_min", "viewers_full", "viewers_999", "achieved_fps", "connected")
WORST_HIGH = ("reordered", "lat_max_ms", "rss_peak_kb", "rss_final_kb", "protocol_errors", "other_messages")


def combine(runs):
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[0]
    out = dict(good[0])
    for key, value in good[0].items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        values = sorted(r[key] for r in good)
        if key in WORST_LOW:
            out[key] = values[0]
        elif key in WORST_HIGH:
            out[key] = values[-1]
        else:
            out[key] = values[(len(values) - 1) // 2]
    out["runs"] = len(good)
    out["failed_runs"] = len(runs) - len(good)
    return out


def rows_by(results):
    grouped = {}
    for r in results:
        if r["scenario"] == "g-step":
            continue
        grouped.setdefault(r["scenario"], {}).setdefault(r["system"], []).append(r)
    return {sc: {system: combine(runs) for system, runs in systems.items()} for sc, systems in grouped.items()}


def loadgen_load(results, system, rate):
    """loadgen's CPU seconds per second of sending at one (g) rate, the busiest
    try: near 1.0 with loadgen on one core means the viewers, not the server,
    were the limit."""
    steps = [r for r in results if r.get("scenario") == "g-step" and r["system"] == system
             and "error" not in r and r["offered_fps"] == rate and r["send_s"] > 0]
    return max((r["loadgen_cpu_s"] / r["send_s"] for r in steps), default=None)


def table(by, systems, results):
    out = [
        "| scenario | system | frame KB | viewers | offered / sent fps | delivery min | reordered "
        "| latency p50 / p99 / max ms | CPU user + sys s | CPU us / delivered frame | x floor "
        "| RSS start / peak / final MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sc, title in SCENARIOS.items():
        floor = by.get(sc, {}).get("floor")
        for system in systems:
            r = by.get(sc, {}).get(system)
            if r is None:
                continue
            if "error" in r:
                out.append(f"| {sc}: {title} | {system} | {r['error']} |" + " |" * 9)
                continue
            viewers = f"{r['viewers']}" + (f" + {r['stuck']} stuck" if r["stuck"] else "")
            runs = f" ({r['runs']} runs)" if r.get("runs", 1) > 1 else ""
            if r.get("failed_runs"):
                runs += f" ({r['failed_runs']} failed)"
            ratio = "-"
            # At 30-60 fps with 1-10 viewers the CPU time is a few 10 ms clock
            # ticks: too coarse for a ratio.
            if sc in "abcd" and floor and "error" not in floor and floor["cpu_us_per_frame"] > 0:
                ratio = fmt(r["cpu_us_per_frame"] / floor["cpu_us_per_frame"])
            out.append(
                f"| {sc}: {title} | {system}{runs} | {r['frame_bytes'] / 1000:.1f} | {viewers} "
                f"| {r['offered_fps']:g} / {r['achieved_fps']:.0f} | {100 * r['delivery_min']:.2f}% "
                f"| {r['reordered']} | {fmt(r['lat_p50_ms'])} / {fmt(r['lat_p99_ms'])} / {fmt(r['lat_max_ms'], 1)} "
                f"| {fmt(r['cpu_user_s'])} + {fmt(r['cpu_sys_s'])} | {fmt(r['cpu_us_per_frame'], 1)} | {ratio} "
                f"| {r['rss_start_kb'] / MIB:.1f} / {r['rss_peak_kb'] / MIB:.1f} / {r['rss_final_kb'] / MIB:.1f} |"
            )
    g = by.get("g", {})
    if g:
        out += ["", "(g) highest offered rate (VGA, 10 viewers, 2 s per step, doubling from 1000/s then bisecting; a failing step counts only when its retry fails too) at which every viewer received "
                ">= 99.9% of the frames with p99 latency < 50 ms and the sender kept the rate:", "",
                "| system | highest passing fps | first failing fps | loadgen CPU s per s at the failing rate |",
                "|---|---|---|---|"]
        for system in systems:
            r = g.get(system)
            if r is None:
                continue
            if "error" in r:
                out.append(f"| {system} | {r['error']} | | |")
            else:
                load = loadgen_load(results, system, r["first_failing_fps"])
                out.append(f"| {system} | {r['max_fps']} | {r['first_failing_fps'] or '> 64000'} | {fmt(load)} |")
    return out


def check_targets(by, system):
    """(met?, text) for each target of the issue, for one imagestream system."""
    def get(sc, sysname=system):
        r = by.get(sc, {}).get(sysname)
        return None if r is None or "error" in r else r

    checks = []
    for sc in "ab":
        r, floor, node = get(sc), get(sc, "floor"), get(sc, "node")
        if r and floor and node:
            ratio = r["cpu_us_per_frame"] / floor["cpu_us_per_frame"] if floor["cpu_us_per_frame"] else float("inf")
            ok = ratio <= 1.2 and r["cpu_us_per_frame"] < node["cpu_us_per_frame"]
            checks.append((ok, f"({sc}) CPU per delivered frame within 1.2x of the floor and below Node: "
                               f"{r['cpu_us_per_frame']:.1f} us = {ratio:.2f}x floor "
                               f"({floor['cpu_us_per_frame']:.1f} us), Node {node['cpu_us_per_frame']:.1f} us"))
        else:
            checks.append((None, f"({sc}) CPU per delivered frame: not measured"))
    missing = [sc for sc in "abcdef" if not get(sc)]
    short = [f"{sc} ({100 * get(sc)['delivery_min']:.2f}%)" for sc in "abcdef"
             if get(sc) and get(sc)["delivery_min"] < 1.0]
    checks.append((None if missing else not short,
                   "(a)-(f) 100% delivery to healthy viewers: "
                   + ("short in " + ", ".join(short) if short else "all frames to every healthy viewer")
                   + (f"; not measured: {', '.join(missing)}" if missing else "")))
    r, floor = get("f"), get("f", "floor")
    if r and floor:
        checks.append((r["lat_p99_ms"] <= floor["lat_p99_ms"] + 1.0,
                       f"(f) p99 latency within 1 ms of the floor: {r['lat_p99_ms']:.3f} ms vs "
                       f"{floor['lat_p99_ms']:.3f} ms"))
    else:
        checks.append((None, "(f) p99 latency: not measured"))
    for sc in "cd":
        r = get(sc)
        if r:
            ok = r["viewers_999"] == r["viewers"] and r["lat_p99_ms"] < 50
            checks.append((ok, f"({sc}) every viewer >= 99.9%, p99 < 50 ms: {r['viewers_999']}/{r['viewers']} "
                               f"viewers, p99 {r['lat_p99_ms']:.2f} ms"))
        else:
            checks.append((None, f"({sc}) not measured"))
    r = get("e")
    if r:
        growth = (max(r["rss_peak_kb"], r["rss_final_kb"]) - r["rss_start_kb"]) / MIB
        ok = r["delivery_min"] >= 1.0 and growth < 16
        checks.append((ok, f"(e) healthy viewers get every frame with 2 stuck viewers, RSS growth < 16 MiB: "
                           f"delivery min {100 * r['delivery_min']:.2f}%, RSS +{growth:.1f} MiB"))
    else:
        checks.append((None, "(e) not measured"))
    g, gfloor = by.get("g", {}).get(system), by.get("g", {}).get("floor")
    if g and gfloor and "error" not in g and "error" not in gfloor:
        checks.append((g["max_fps"] >= gfloor["max_fps"],
                       f"(g) highest rate at least the floor's: {g['max_fps']}/s vs {gfloor['max_fps']}/s"))
    else:
        checks.append((None, "(g) not measured"))
    return checks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--started", default="?")
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--server-cpu", default="", help="CPU the servers were pinned to ('' = not pinned)")
    args = ap.parse_args()
    with open(args.results) as f:
        results = [json.loads(line) for line in f if line.strip()]
    by = rows_by(results)
    systems = []
    for r in results:
        if r["system"] not in systems:
            systems.append(r["system"])

    out = ["# Benchmarks", "",
           f"Produced by `{args.command}` (run started {args.started}; raw results in "
           f"`bench/results/{os.path.basename(args.results)}`, not committed).", "",
           f"Machine: {machine()}; shared and noisy, so compare systems within this table only.  ",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".", "",
           "Each system is started fresh for every row and gets the same offered load from `bench/loadgen` "
           "(length-prefixed JPEGs into the ingest port; WebSocket viewers on `/camera`). Viewers connect "
           "before the first frame; CPU and RSS of the server process are read from `/proc` from the first "
           "frame to the end of delivery. CPU us / delivered frame = (user + sys) / frames received by all "
           "healthy viewers. Latency is from the sender's write to the viewer's read of the last byte. "
           "Scenarios (a)-(d) and (f) run several times, the systems in a rotated order each round: the table "
           "shows the median run for CPU and latency percentiles and the worst run for delivery, reordering, "
           "maximum latency and memory.",
           "",
           ("Each server was pinned to CPU %s and loadgen to the other core (`taskset`), so that they do not "
            "preempt each other at every wake-up of the fan-out." % args.server_cpu if args.server_cpu else
            "Servers and loadgen were not pinned to cores (BENCH_PIN=0)."),
           "",
           "Systems: **floor** (`bench/floor_relay.c`, single-thread blocking C relay, one `writev` per viewer "
           "per frame, no robustness: one stuck viewer blocks it), **node** (`bench/node_relay.mjs`, `ws` "
           "defaults), **python** (`bench/python_relay.py`, the original's design on tornado), "
           "**imagestream** (`gst-launch-1.0 lengthprefixsrc ! websocketsink`), **imagestream-launch** "
           "(the launcher, when built).", ""]
    out += table(by, systems, results)
    out += ["", "Reading the table:", "",
            "- The floor blocks on a viewer that stops reading (it has no per-viewer policy): in (e) the 2 stuck "
            "viewers stop it, and with it the sender, after a few seconds.",
            "- The floor sets no `TCP_NODELAY`; its maximum latencies of about 40 ms are Nagle waiting for a "
            "delayed ACK. loadgen's senders set `TCP_NODELAY` (`--sender-nagle` to leave Nagle on).",
            "- At 30-60 fps the CPU time is a few 10 ms clock ticks: CPU per frame in (e) and (f) is coarse.",
            "- (g): a last column near 1.00 means loadgen's own core was saturated, so the viewers, not the "
            "server, set the limit. Then the floor, Node and Python buffer (the kernel holds up to `tcp_wmem` "
            "max per viewer), slow the sender down and let latency grow, while websocketsink keeps taking "
            "frames and drops the oldest waiting ones of each viewer past `max-queued-frames`: it fails on "
            "delivery, not on latency."]
    for system in systems:
        if not system.startswith("imagestream"):
            continue
        out += ["", f"## Targets for {system}", ""]
        for ok, text in check_targets(by, system):
            mark = "not measured" if ok is None else ("met" if ok else "**NOT met**")
            out.append(f"- {mark}: {text}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
