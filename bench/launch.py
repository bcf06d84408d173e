#!/usr/bin/env python3
"""Launch cost of /bin/true, in one run on one machine, as ratios against
references measured in the same session (see ../shared/reference/launch-costs.md):

  plain      fork/exec of /bin/true (hyperfine -N)
  stepd-exec `stepd exec` with the full default isolation
  bwrap      bwrap --unshare-all, read-only system binds, --proc, --dev,
             --tmpfs /tmp, --cap-drop ALL, --new-session, --die-with-parent

  daemon     round trip through a running `stepd daemon` with the same
             isolation: connect, hello, run /bin/true, exit (bench/roundtrip.c),
             and steps per second with 16 concurrent clients; with the
             state folder on disk (the temporary folder's file system, named
             in the row), on tmpfs, and on a journaled ext4 made for the run
             in a loop-mounted file (records and working folders are file
             system work of their own, and ext4 without a journal scans
             recently deleted inodes on every create: see journal_note);
             and on tmpfs without network namespace reuse (every step here
             is one project's: steps of many projects would not reuse)

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


def daemon_rows(build, runs, base=None, settings=None):
    """Start a daemon on a temporary socket and state folder (under base),
    with settings added to its stepd.json; measure."""
    tmp = tempfile.mkdtemp(prefix="stepd-bench-daemon-", dir=base)
    conf = os.path.join(tmp, "conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "stepd.json"), "w") as f:
        json.dump({"capacity": 16, "queue_limit": 1024, **(settings or {})}, f)
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


def journal_note(path):
    """The file system under path, and for ext3/ext4 whether it has a
    journal: without one, ext4 skips inodes deleted in the last 30 s on
    every create (recently_deleted()), which with a step's working folder
    removed per step costs more than the whole rest of the step."""
    dev = os.stat(path).st_dev
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields = left.split()
            major, minor = (int(x) for x in fields[2].split(":"))
            if os.makedev(major, minor) != dev:
                continue
            fstype, source = right.split()[:2]
            if fstype not in ("ext3", "ext4"):
                return fstype
            try:
                journals = os.listdir("/proc/fs/jbd2")
            except FileNotFoundError:
                journals = []
            name = os.path.basename(source)
            has = any(j.startswith(name + "-") for j in journals)
            return f"{fstype}, {'journal' if has else 'no journal'}"
    return "unknown"


class JournaledExt4:
    """A 1 GiB ext4 with a journal, in a file under /var/tmp, loop-mounted
    for the run; None as a context value when it cannot be made."""

    def __enter__(self):
        self.dir = self.image = None
        if not shutil.which("mkfs.ext4"):
            return None
        self.image = tempfile.mktemp(prefix="stepd-bench-", suffix=".ext4", dir="/var/tmp")
        self.dir = tempfile.mkdtemp(prefix="stepd-bench-ext4-")
        with open(self.image, "wb") as f:
            f.truncate(1 << 30)
        ok = subprocess.run(["mkfs.ext4", "-q", "-F", self.image], capture_output=True).returncode == 0
        ok = ok and subprocess.run(["mount", "-o", "loop", self.image, self.dir],
                                   capture_output=True).returncode == 0
        return self.dir if ok else None

    def __exit__(self, *exc):
        if self.dir:
            subprocess.run(["umount", self.dir], capture_output=True)
            os.rmdir(self.dir)
        if self.image and os.path.exists(self.image):
            os.unlink(self.image)


def print_daemon_row(label, build, runs, base, res, settings=None):
    lat, thr = daemon_rows(build, runs, base, settings)
    ms = lat["median_ms"]
    print(f"{label:<24}{ms:>10.2f}{ms / res['plain']:>10.2f}{ms / res['bwrap']:>10.2f}"
          f"   (p90 {lat['p90_ms']:.2f} ms; 16 clients: {thr['steps_per_s']:.0f} steps/s,"
          f" {thr['failed_clients']} failed)")


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
    # same daemon is measured with its state folder on disk, on tmpfs, and
    # on a journaled ext4 (what a server's state folder usually is).
    build = os.path.abspath(a.build)
    print_daemon_row("daemon, state on disk", build, a.runs, None, res)
    print(f"{'':<24}(disk: {tempfile.gettempdir()}, {journal_note(tempfile.gettempdir())})")
    print_daemon_row("daemon, state on tmpfs", build, a.runs, "/dev/shm", res)
    # Every step here is one project's, so each may reuse the network
    # namespace of the one before it; steps of many projects could not.
    print_daemon_row("  same, no netns reuse", build, a.runs, "/dev/shm", res,
                     {"reuse_network_namespaces": False})
    with JournaledExt4() as ext4:
        if ext4:
            print_daemon_row("daemon, ext4 + journal", build, a.runs, ext4, res)
        else:
            print("daemon, ext4 + journal: skipped (cannot make and mount one)")
    verdict = "beats" if res["stepd-exec"] < res["bwrap"] else "does NOT beat"
    print(f"stepd exec {verdict} bwrap: {res['stepd-exec']:.2f} ms vs {res['bwrap']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
