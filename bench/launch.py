#!/usr/bin/env python3
"""Launch cost of /bin/true, in one run on one machine, as ratios against
references measured in the same session (see ../shared/reference/launch-costs.md):

  plain      fork/exec of /bin/true (hyperfine -N)
  stepd-exec `stepd exec` with the full default isolation
  bwrap      bwrap --unshare-all, read-only system binds, --proc, --dev,
             --tmpfs /tmp, --cap-drop ALL, --new-session, --die-with-parent

Further rows (the daemon's round trip) are added by bench/daemon.py when the
daemon is built. Usage: bench/launch.py [--runs N] [--stepd PATH]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def hyperfine(cmds, runs):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "-N", "--warmup", "20", "--runs", str(runs), "--style", "none",
                "--export-json", out.name]
        for name, cmd in cmds:
            args += ["-n", name, cmd]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        data = json.load(open(out.name))
    return {r["command"]: r["median"] * 1000 for r in data["results"]}


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--stepd", default=os.environ.get("STEPD",
                    os.path.join(HERE, "..", "build", "supervisor", "stepd")))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    if not shutil.which("hyperfine") or not shutil.which("bwrap"):
        sys.exit("bench: needs hyperfine and bwrap (scripts/install-deps installs them)")
    state = tempfile.mkdtemp(prefix="stepd-bench-")
    try:
        res = hyperfine([
            ("plain", "/bin/true"),
            ("stepd-exec", f"{os.path.abspath(a.stepd)} exec -q --state {state} -- /bin/true"),
            ("bwrap", bwrap_cmd()),
        ], a.runs)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"{'launch of /bin/true':<24}{'median ms':>10}{'vs plain':>10}{'vs bwrap':>10}")
    for name in ("plain", "stepd-exec", "bwrap"):
        ms = res[name]
        print(f"{name:<24}{ms:>10.2f}{ms / res['plain']:>10.2f}{ms / res['bwrap']:>10.2f}")
    verdict = "beats" if res["stepd-exec"] < res["bwrap"] else "does NOT beat"
    print(f"stepd exec {verdict} bwrap: {res['stepd-exec']:.2f} ms vs {res['bwrap']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
