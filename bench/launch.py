#!/usr/bin/env python3
"""Launch cost of /bin/true, in one run on one machine, as ratios against
references measured in the same session (see ../shared/reference/launch-costs.md):

  plain      fork/exec of /bin/true (hyperfine -N)
  stepd-exec `stepd exec` with the full default isolation
  bwrap      bwrap --unshare-all, read-only system binds, --proc, --dev,
             --tmpfs /tmp, --cap-drop ALL, --new-session, --die-with-parent

  daemon     round trip through a running `stepd daemon` with the same
             isolation: connect, hello, run /bin/true, exit (bench/roundtrip.c),
             and steps per second with 16 concurrent clients; once with the
             state folder on disk, once on tmpfs (records and working folders
             are file system work of their own)

Usage: bench/launch.py [--runs N] [--build DIR]"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def hyperfine(cmds, runs, rounds=3):
    """Median ms per command over all runs, measured in `rounds` alternating
    rounds (plain, stepd, bwrap, plain, ...): this VM's speed drifts by tens
    of percent over minutes, and one long series per command would turn the
    drift into a difference between commands. Also returns each command's
    round medians, to show the spread."""
    times = {name: [] for name, _ in cmds}
    rounds_ms = {name: [] for name, _ in cmds}
    for _ in range(rounds):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            args = ["hyperfine", "-N", "--warmup", "20", "--runs", str(max(runs // rounds, 10)),
                    "--style", "none", "--export-json", out.name]
            for name, cmd in cmds:
                args += ["-n", name, cmd]
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            data = json.load(open(out.name))
        for r in data["results"]:
            times[r["command"]] += r["times"]
            rounds_ms[r["command"]].append(r["median"] * 1000)
    return ({name: statistics.median(t) * 1000 for name, t in times.items()}, rounds_ms)


def bwrap_cmd():
    binds = []
    for d in ("/usr", "/etc"):
        binds += ["--ro-bind", d, d]
    for d in ("/bin", "/sbin", "/lib", "/lib64"):
        if os.path.islink(d):
            binds += ["--symlink", os.readlink(d), d]
        elif os.path.exists(d):
            binds += ["--ro-bind", d, d]
    return " ".join(["bwrap", "--unshare-all", *binds, "--proc", "/proc", "--dev", "/dev",
                     "--tmpfs", "/tmp", "--cap-drop", "ALL", "--new-session",
                     "--die-with-parent", "/bin/true"])


def daemon_rows(build, runs, base=None):
    """Start a daemon on a temporary socket and state folder (under base);
    measure."""
    tmp = tempfile.mkdtemp(prefix="stepd-bench-daemon-", dir=base)
    conf = os.path.join(tmp, "conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "stepd.json"), "w") as f:
        json.dump({"capacity": 16, "queue_limit": 1024}, f)
    sock = os.path.join(tmp, "s.sock")
    stepd = os.path.join(build, "supervisor", "stepd")
    tool = os.path.join(build, "bench", "roundtrip")
    daemon = subprocess.Popen([stepd, "daemon", "--config", conf, "--socket", sock, "--state",
                               os.path.join(tmp, "state"), "--log-level", "warning"],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        subprocess.run([tool, sock, "latency", "20"], check=True, capture_output=True)
        lat = json.loads(subprocess.run([tool, sock, "latency", str(runs)], check=True,
                                        capture_output=True).stdout)
        thr = json.loads(subprocess.run([tool, sock, "throughput", "16", "40"], check=True,
                                        capture_output=True).stdout)
        return lat, thr
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    a = ap.parse_args()
    a.stepd = os.path.join(a.build, "supervisor", "stepd")
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    if not shutil.which("hyperfine") or not shutil.which("bwrap"):
        sys.exit("bench: needs hyperfine and bwrap (scripts/install-deps installs them)")
    state = tempfile.mkdtemp(prefix="stepd-bench-")
    try:
        res, spread = hyperfine([
            ("plain", "/bin/true"),
            ("stepd-exec", f"{os.path.abspath(a.stepd)} exec -q --state {state} -- /bin/true"),
            ("bwrap", bwrap_cmd()),
        ], a.runs)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"{'launch of /bin/true':<24}{'median ms':>10}{'vs plain':>10}{'vs bwrap':>10}")
    for name in ("plain", "stepd-exec", "bwrap"):
        ms = res[name]
        rounds = ", ".join(f"{v:.2f}" for v in spread[name])
        print(f"{name:<24}{ms:>10.2f}{ms / res['plain']:>10.2f}{ms / res['bwrap']:>10.2f}"
              f"   (rounds: {rounds})")
    # The daemon writes each step's records (request, log, result) and makes
    # its working folder: on a slow disk that is a cost of its own, so the
    # same daemon is measured with its state folder on disk and on tmpfs.
    for label, base in (("daemon, state on disk", None), ("daemon, state on tmpfs", "/dev/shm")):
        lat, thr = daemon_rows(os.path.abspath(a.build), a.runs, base)
        ms = lat["median_ms"]
        print(f"{label:<24}{ms:>10.2f}{ms / res['plain']:>10.2f}{ms / res['bwrap']:>10.2f}"
              f"   (p90 {lat['p90_ms']:.2f} ms; 16 clients: {thr['steps_per_s']:.0f} steps/s,"
              f" {thr['failed_clients']} failed)")
    verdict = "beats" if res["stepd-exec"] < res["bwrap"] else "does NOT beat"
    print(f"stepd exec {verdict} bwrap: {res['stepd-exec']:.2f} ms vs {res['bwrap']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
