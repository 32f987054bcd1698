#!/usr/bin/env python3
"""Runs one query on Rill and on Apache Flink over the same generated input, checks that both give
the same rows, and records the figures side by side as one JSON file.

    scripts/peers/compare.py sensors --events 10000000
    scripts/peers/compare.py nexmark --query q1 --events 10000000 --results results/peers
    scripts/peers/compare.py nexmark --query q5 --events 1000000 --no-rill   # Flink vs the Python reference

Steps: ``cargo build --release -p rill-bench``; ``rill-bench gen`` writes the input (and a tiny
input of ``--startup-events`` events); Rill runs the query (``rill-bench run ... --json``); Flink runs
it (``flink_run.py`` in the venv of ``install_flink.sh``) on the tiny input, which measures its
start-up (JVM, planner, mini-cluster, job submission and tear-down), and then on the full input. The
outputs must be equal as multisets of rows (both sorted bytewise and compared, header apart);
any difference, or any non-zero exit of either engine, fails the script (exit code 1).

Figures (all wall-clock, seconds; throughput = input records read / time):
* Rill: ``elapsed_s`` as reported by ``rill-bench`` (job only) and the whole process.
* Flink: whole process (less the header strip ``flink_run.py`` does before starting Flink, which
  Flink 2.3's CSV source needs and Rill does not), start-up (the same on the tiny input), net
  (whole - start-up).
* Per-core ratios: (Rill throughput / Rill workers) / (Flink throughput / Flink parallelism),
  against Flink's whole and net figures, and their inverses.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.environ.get("RILL_PEERS_DIR", os.path.join(os.path.expanduser("~"), ".cache", "rill-peers"))
FLINK_PY = os.path.join(PEERS_DIR, "flink-venv", "bin", "python")
RILL_BENCH = os.path.join(REPO, "target", "release", "rill-bench")



def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    """Runs `cmd`, returning (wall seconds, stdout); fails loudly on a non-zero exit."""
    log("$ " + " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + "\n" + p.stderr[-8000:] + "\n")
        raise SystemExit(f"compare: FAILED (exit {p.returncode}): {' '.join(cmd)}")
    return dt, p.stdout


def last_json_line(text, what):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"compare: FAILED: no JSON line in the output of {what}")


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return {
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "java": java.stdout.splitlines()[0] if java.stdout else None,
        "python": platform.python_version(),
    }


def git():
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, stdout=subprocess.PIPE, text=True).stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--", ":(top)", ":(top,exclude)results"], cwd=REPO, stdout=subprocess.PIPE, text=True).stdout
    return {"commit": rev or None, "dirty": bool(status.strip())}


def sorted_rows(path, header, out):
    """Checks `path`'s header and writes its rows, sorted bytewise, to `out`."""
    with open(path) as f:
        first = f.readline().rstrip("\n")
    if first != header:
        raise SystemExit(f"compare: FAILED: {path}: header {first!r}, expected {header!r}")
    env = dict(os.environ, LC_ALL="C")
    with open(out, "wb") as o:
        tail = subprocess.Popen(["tail", "-n", "+2", path], stdout=subprocess.PIPE)
        s = subprocess.run(["sort", "-S", "25%", "-T", os.path.dirname(out)], stdin=tail.stdout, stdout=o, env=env)
        tail.stdout.close()
        if tail.wait() != 0 or s.returncode != 0:
            raise SystemExit(f"compare: FAILED: sorting {path}")


def same_rows(a, b, header, scratch):
    sa, sb = os.path.join(scratch, "a.sorted"), os.path.join(scratch, "b.sorted")
    sorted_rows(a, header, sa)
    sorted_rows(b, header, sb)
    p = subprocess.run(["cmp", "-s", sa, sb])
    if p.returncode not in (0, 1):
        raise SystemExit("compare: FAILED: cmp")
    if p.returncode == 1:
        d = subprocess.run(["diff", sa, sb], stdout=subprocess.PIPE, text=True).stdout.splitlines()[:10]
        log("first differences (< first file, > second file):\n" + "\n".join(d))
    for s in (sa, sb):
        os.remove(s)
    return p.returncode == 0


def gen(workload, events, seed, out):
    run([RILL_BENCH, "gen", workload, "--events", str(events), "--seed", str(seed), "--out", out])


def rill_cmd(args, query, inp, output, json_path):
    cmd = [RILL_BENCH, "run", args.workload]
    if args.workload == "nexmark":
        cmd += ["--query", query]
    cmd += ["--input", inp, "--workers", str(args.workers), "--output", output, "--json", json_path]
    if args.workload == "sensors":
        cmd += ["--window-ms", str(args.window_ms)]
    return cmd


def flink_cmd(args, query, inp, output, work):
    cmd = [FLINK_PY, os.path.join(HERE, "flink_run.py"), "--query", query, "--input", inp,
           "--output", output, "--parallelism", str(args.parallelism), "--work-dir", work]
    if args.workload == "sensors":
        cmd += ["--window-ms", str(args.window_ms)]
    return cmd


def per_s(n, s):
    return n / s if s and s > 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", choices=["sensors", "nexmark"])
    ap.add_argument("--query", default=None, help="nexmark: q0, q1, q2, q5, q7, q8")
    ap.add_argument("--events", type=int, required=True, help="events generated (nexmark: all three tables)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--startup-events", type=int, default=1000, help="size of the start-up probe input")
    ap.add_argument("--workers", type=int, default=1, help="Rill worker threads")
    ap.add_argument("--parallelism", type=int, default=1, help="Flink parallelism")
    ap.add_argument("--window-ms", type=int, default=10_000, help="sensors: tumbling window (ms)")
    ap.add_argument("--results", default=os.path.join(REPO, "results", "peers"))
    ap.add_argument("--work-dir", default=None, help="scratch space for inputs and outputs (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch space")
    ap.add_argument("--no-build", action="store_true", help="skip `cargo build --release -p rill-bench`")
    ap.add_argument("--no-rill", action="store_true",
                    help="do not run Rill: check Flink against scripts/peers/nexmark_ref.py (q2, q5, q7, q8)")
    args = ap.parse_args()

    if args.workload == "nexmark":
        if args.query not in ("q0", "q1", "q2", "q5", "q7", "q8"):
            raise SystemExit("compare: nexmark needs --query q0|q1|q2|q5|q7|q8")
        query = args.query
    else:
        if args.query not in (None, "sensors"):
            raise SystemExit("compare: --query is for nexmark only")
        query = "sensors"
    if args.no_rill and query not in ("q2", "q5", "q7", "q8"):
        raise SystemExit("compare: --no-rill needs a query the Python reference knows (q2, q5, q7, q8)")
    if not os.access(FLINK_PY, os.X_OK):
        raise SystemExit(f"compare: no Flink venv at {FLINK_PY}: run scripts/peers/install_flink.sh")

    if not args.no_build:
        run(["cargo", "build", "--release", "-p", "rill-bench"], cwd=REPO)
    if not os.access(RILL_BENCH, os.X_OK):
        raise SystemExit(f"compare: no {RILL_BENCH}")

    work = args.work_dir or tempfile.mkdtemp(prefix="rill-peers-")
    os.makedirs(work, exist_ok=True)
    suffix = "" if args.workload == "nexmark" else ".csv"
    full_in = os.path.join(work, f"input-{args.events}{suffix}")
    tiny_in = os.path.join(work, f"input-tiny-{args.startup_events}{suffix}")
    try:
        gen(args.workload, args.events, args.seed, full_in)
        gen(args.workload, args.startup_events, args.seed, tiny_in)

        # Rill (or the reference).
        rill_out = os.path.join(work, f"rill-{query}.csv")
        rill = None
        if args.no_rill:
            run([sys.executable, os.path.join(HERE, "nexmark_ref.py"), "--query", query,
                 "--input", full_in, "--output", rill_out])
        else:
            rill_json = os.path.join(work, f"rill-{query}.json")
            wall, _ = run(rill_cmd(args, query, full_in, rill_out, rill_json))
            with open(rill_json) as f:
                rj = json.load(f)
            fig = rj["figures"]
            rill = {
                "workers": args.workers,
                "events_in": fig["events_in"],
                "rows_out": fig["rows_out"],
                "elapsed_s": fig["elapsed_s"],
                "throughput_events_per_s": fig["throughput_events_per_s"],
                "process_s": wall,
                "process_throughput_events_per_s": per_s(fig["events_in"], wall),
                "peak_rss_bytes": fig.get("resources", {}).get("peak_rss_bytes"),
            }
            log(f"rill: {fig['events_in']} events in {fig['elapsed_s']:.3f} s "
                f"({fig['throughput_events_per_s'] / 1e6:.2f} M ev/s), process {wall:.3f} s")

        # Flink: start-up probe, then the full input.
        flink_tiny_out = os.path.join(work, f"flink-tiny-{query}.csv")
        wall_tiny, out = run(flink_cmd(args, query, tiny_in, flink_tiny_out, os.path.join(work, "flink-work")))
        tiny = last_json_line(out, "flink_run.py")
        startup = wall_tiny - tiny["prep_s"]
        flink_out = os.path.join(work, f"flink-{query}.csv")
        wall_full, out = run(flink_cmd(args, query, full_in, flink_out, os.path.join(work, "flink-work")))
        fj = last_json_line(out, "flink_run.py")
        whole = wall_full - fj["prep_s"]
        net = whole - startup
        rows_in = fj["rows_in"]
        flink = {
            "version": fj["flink_version"],
            "mode": fj["mode"],
            "parallelism": args.parallelism,
            "events_in": rows_in,
            "rows_out": fj["rows_out"],
            "whole_s": whole,
            "whole_throughput_events_per_s": per_s(rows_in, whole),
            "startup_s": startup,
            "startup_events_in": tiny["rows_in"],
            "net_s": net,
            "net_throughput_events_per_s": per_s(rows_in, net),
            "job_s": fj["job_s"],
            "output_s": fj["output_s"],
            "header_strip_s_excluded": fj["prep_s"],
        }
        log(f"flink: {rows_in} events, whole {whole:.2f} s, start-up {startup:.2f} s, net {net:.2f} s")

        # Same rows?
        with open(flink_out) as f:
            header = f.readline().rstrip("\n")
        equal = same_rows(rill_out, flink_out, header, work)
        if rill is not None and rill["events_in"] != rows_in:
            raise SystemExit(f"compare: FAILED: Rill read {rill['events_in']} events, Flink {rows_in}")

        result = {
            "schema_version": 1,
            "kind": "peer-comparison",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "workload": args.workload,
            "query": query,
            "events": args.events,
            "seed": args.seed,
            "window_ms": args.window_ms if args.workload == "sensors" else None,
            "outputs_equal": equal,
            "checked_against": "python-reference" if args.no_rill else "rill",
            "rill": rill,
            "flink": flink,
            "machine": machine(),
            "git": git(),
            "note": "2 shared cores; other processes may run at the same time: figures are noisy",
        }
        if rill is not None:
            rill_pc = rill["throughput_events_per_s"] / args.workers
            whole_pc = flink["whole_throughput_events_per_s"] / args.parallelism
            net_pc = (flink["net_throughput_events_per_s"] or 0) / args.parallelism
            result["per_core_ratio"] = {
                "rill_over_flink_whole": rill_pc / whole_pc,
                "flink_whole_over_rill": whole_pc / rill_pc,
                "rill_over_flink_net": rill_pc / net_pc if net_pc > 0 else None,
                "flink_net_over_rill": net_pc / rill_pc,
            }
        os.makedirs(args.results, exist_ok=True)
        stamp = result["timestamp"].replace(":", "").replace("-", "")
        path = os.path.join(args.results, f"{query}-{args.events}-{stamp}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        log(f"wrote {path}")
        print(json.dumps({"query": query, "events": args.events, "outputs_equal": equal,
                          "rill_Mev_s": rill and rill["throughput_events_per_s"] / 1e6,
                          "flink_whole_Mev_s": flink["whole_throughput_events_per_s"] / 1e6,
                          "flink_net_Mev_s": (flink["net_throughput_events_per_s"] or 0) / 1e6,
                          "flink_startup_s": startup, "result": path}))
        if not equal:
            raise SystemExit("compare: FAILED: the outputs differ")
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
