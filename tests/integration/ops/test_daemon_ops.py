#!/usr/bin/python3
"""The operations side of a real daemon: the `metrics` request and the
textfile (read by Prometheus' parser) count the steps that really ran, the
textfile is replaced atomically, each step gets one audit line, and bash
completion offers the daemon's real step ids and the configured projects."""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from promparse import parse, value  # noqa: E402
from stepd_client import Client  # noqa: E402

STEPD = os.environ.get("STEPD", "stepd")
STEPCTL = os.environ.get("STEPCTL", "stepctl")
SOURCE = os.environ.get("STEPD_SOURCE_ROOT", os.path.join(HERE, "..", "..", ".."))
PROJECT = "opsproj"
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


@unittest.skipIf(os.geteuid() != 0, "stepd needs root")
class DaemonOpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stepd-ops-")
        cls.sock = os.path.join(cls.tmp, "s.sock")
        cls.conf = os.path.join(cls.tmp, "conf")
        cls.textdir = os.path.join(cls.tmp, "textfile")
        cls.prom = os.path.join(cls.textdir, "stepd.prom")
        os.makedirs(os.path.join(cls.conf, "projects.d"))
        os.makedirs(cls.textdir)
        with open(os.path.join(cls.conf, "stepd.json"), "w") as f:
            f.write('{"capacity": 2, "kill_grace": "1s"}\n')
        for p in (PROJECT, "other-proj"):
            with open(os.path.join(cls.conf, "projects.d", p + ".json"), "w") as f:
                f.write('{"user": 61240, "group": 61240}\n' if p == PROJECT else "{}\n")
        cls.log = open(os.path.join(cls.tmp, "stepd.log"), "w+b")
        cls.daemon = subprocess.Popen(
            [STEPD, "daemon", "--socket", cls.sock, "--state", os.path.join(cls.tmp, "state"),
             "--config", cls.conf, "--metrics-file", cls.prom, "--metrics-interval", "1s"],
            stdout=cls.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not os.path.exists(cls.sock):
            if cls.daemon.poll() is not None or time.monotonic() > deadline:
                cls.tearDownClass()
                raise RuntimeError("stepd did not start")
            time.sleep(0.05)
        # the steps every test looks at: exited 0, exited 3, timeout, refused
        cls.runs = [cls.stepctl("run", "-p", PROJECT, "--", "/bin/true"),
                    cls.stepctl("run", "-p", PROJECT, "--", "/bin/sh", "-c", "exit 3"),
                    cls.stepctl("run", "-p", PROJECT, "-t", "300ms", "--", "/bin/sleep", "30"),
                    cls.stepctl("run", "-p", "no-such-project", "--", "/bin/true")]

    @classmethod
    def tearDownClass(cls):
        d = cls.daemon
        if d is not None and d.poll() is None:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(timeout=15)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def stepctl(cls, *args):
        return subprocess.run([STEPCTL, "--socket", cls.sock, *args], capture_output=True,
                              text=True, timeout=60)

    def daemon_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def metrics_text(self):
        with Client(self.sock) as c:
            c.hello()
            reply = c.request({"type": "metrics"})
        self.assertEqual(reply["type"], "metrics")
        return reply["text"]

    def test_steps_ran_as_expected(self):
        rcs = [r.returncode for r in self.runs]
        self.assertEqual(rcs[:2], [0, 3], [r.stderr for r in self.runs])
        self.assertNotIn(rcs[2], (0, 125), self.runs[2].stderr)  # timeout: 128+SIGTERM/KILL
        self.assertEqual(rcs[3], 125)
        self.assertIn("unknown-project", self.runs[3].stderr + self.runs[3].stdout)

    def check_counts(self, fams):
        ended = lambda reason: value(fams, "stepd_steps_ended", "stepd_steps_ended_total",  # noqa
                                     reason=reason)
        self.assertEqual(value(fams, "stepd_steps_started", "stepd_steps_started_total"), 3)
        self.assertEqual(ended("exited"), 2)
        self.assertEqual(ended("timeout"), 1)
        self.assertEqual(ended("oom"), 0)
        self.assertEqual(value(fams, "stepd_requests_rejected", "stepd_requests_rejected_total",
                               cause="unknown-project"), 1)
        h = "stepd_step_duration_seconds"
        self.assertEqual(value(fams, h, h + "_count"), 3)
        self.assertGreaterEqual(value(fams, h, h + "_sum"), 0.3)  # the timeout step's 300 ms
        self.assertEqual(value(fams, h, h + "_bucket", le="+Inf"), 3)
        self.assertEqual(value(fams, "stepd_steps_running"), 0)
        self.assertEqual(value(fams, "stepd_steps_queued"), 0)
        self.assertEqual(value(fams, "stepd_capacity"), 2)

    def test_metrics_request(self):
        fams = parse(self.metrics_text())
        self.check_counts(fams)
        self.assertGreaterEqual(value(fams, "stepd_clients_connected"), 1)

    def test_metrics_spares(self):
        fams = parse(self.metrics_text())
        def spares(name, kind):
            family = name[:-len("_total")] if name.endswith("_total") else name
            return value(fams, family, name, kind=kind)

        # three steps started with network "none": each took a namespace
        # made ahead or made its own, and the worker made the ones taken
        ns_taken = spares("stepd_spares_taken_total", "netns")
        ns_missed = spares("stepd_spares_missed_total", "netns")
        self.assertEqual(ns_taken + ns_missed, 3)
        self.assertGreaterEqual(ns_taken, 1)
        self.assertGreaterEqual(spares("stepd_spares_made_total", "netns"), ns_taken)
        self.assertEqual(spares("stepd_spares_failed_total", "netns"), 0)
        # 4 new ones, and at most 16 handed back unused
        self.assertLessEqual(spares("stepd_spares_ready", "netns"), 4 + 16)
        # only what was taken comes back
        self.assertLessEqual(spares("stepd_spares_recycled_total", "netns") +
                             spares("stepd_spares_discarded_total", "netns"), ns_taken)
        # every step asked the cgroup pool once
        cg_taken = spares("stepd_spares_taken_total", "cgroup")
        self.assertEqual(cg_taken + spares("stepd_spares_missed_total", "cgroup"), 3)
        if os.path.isdir("/sys/fs/cgroup/memory"):  # v1: spares exist, so the 2nd and 3rd hit
            self.assertGreaterEqual(cg_taken, 1)

    def test_stepctl_metrics(self):
        r = self.stepctl("metrics")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_counts(parse(r.stdout))

    def test_textfile(self):
        deadline = time.monotonic() + 40  # written every 15 s
        while True:
            try:
                with open(self.prom) as f:
                    fams = parse(f.read())
                if value(fams, "stepd_steps_started", "stepd_steps_started_total") == 3:
                    break
            except FileNotFoundError:
                pass
            self.assertLess(time.monotonic(), deadline, "the textfile never showed the steps")
            time.sleep(0.5)
        self.check_counts(fams)
        st = os.stat(self.prom)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        self.assertAlmostEqual(value(fams, "stepd_metrics_timestamp_seconds"), time.time(),
                               delta=60)
        self.assertEqual(os.listdir(self.textdir), ["stepd.prom"])  # no temporary left
        # rewritten every --metrics-interval (1 s), by rename: a new inode each time
        inode, deadline = st.st_ino, time.monotonic() + 10
        while os.stat(self.prom).st_ino == inode:
            self.assertLess(time.monotonic(), deadline, "the textfile was not rewritten")
            time.sleep(0.2)

    def test_metrics_interval_is_checked(self):
        for bad in ("0", "500ms", "2h", "soon"):
            r = subprocess.run([STEPD, "daemon", "--metrics-interval", bad], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--metrics-interval", r.stderr)

    def test_audit_lines(self):
        lines = [l for l in self.daemon_log().splitlines() if "event=audit" in l]
        self.assertEqual(len(lines), 3, lines)
        for l in lines:
            self.assertRegex(l, r" project=%s peer_uid=0 peer_pid=\d+ run_uid=61240 "
                                r"run_gid=61240 policy=[0-9a-f]+ " % PROJECT)
        self.assertIn("reason=exited exit_code=3", "\n".join(lines))
        self.assertIn("reason=timeout", "\n".join(lines))

    def complete(self, words, env=None):
        """Run the installed-to-be completion function on a command line."""
        if not os.path.exists(BASH_COMPLETION):
            self.skipTest("bash-completion is not installed")
        line = " ".join(words)
        script = (
            'source "$1"; source "$2"; shift 2\n'
            'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$LINE"; '
            'COMP_POINT=${#COMP_LINE}\n'
            'case "$1" in *stepd) _stepd ;; *) _stepctl ;; esac\n'
            'printf "%s\\n" "${COMPREPLY[@]}"\n')
        r = subprocess.run(["bash", "-c", script, "bash", BASH_COMPLETION,
                            os.path.join(SOURCE, "completion", "stepctl"), *words],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, LINE=line, **(env or {})))
        self.assertEqual(r.returncode, 0, r.stderr)
        return set(r.stdout.split())

    def test_completion_commands_and_options(self):
        self.assertTrue({"run", "attach", "logs", "cancel", "ps", "status", "result", "metrics", "reload"}
                        <= self.complete([STEPCTL, ""]))
        self.assertEqual(self.complete([STEPCTL, "run", "--inter"]),
                         {"--interactive", "--interpreter"})
        self.assertIn("doctor", self.complete(["stepd", "do"]))
        self.assertEqual(self.complete(["stepd", "doctor", "--st"]), {"--state"})

    def test_completion_step_ids(self):
        ps = self.stepctl("ps", "--json")
        ids = set(re.findall(r'"step": *"([A-Za-z0-9_-]+)"', ps.stdout))
        self.assertGreaterEqual(len(ids), 3, ps.stdout)
        self.assertEqual(self.complete([STEPCTL, "--socket", self.sock, "logs", ""]), ids)
        some = sorted(ids)[0]
        self.assertEqual(self.complete([STEPCTL, "--socket", self.sock, "result", some[:-1]]),
                         {i for i in ids if i.startswith(some[:-1])})

    def test_completion_projects(self):
        env = {"STEPD_CONFIG_DIR": self.conf}
        self.assertEqual(self.complete([STEPCTL, "run", "-p", ""], env), {PROJECT, "other-proj"})
        self.assertEqual(self.complete([STEPCTL, "run", "--project", "op"], env), {PROJECT})
        self.assertEqual(self.complete(["stepd", "check-config", "oth"], env), {"other-proj"})



@unittest.skipIf(os.geteuid() != 0, "stepd needs root")
class JournalLogTest(unittest.TestCase):
    """Under systemd (JOURNAL_STREAM set) every log line starts with the
    journald priority prefix and is `level=L event=E key=value...`."""

    def test_priority_prefixes(self):
        tmp = tempfile.mkdtemp(prefix="stepd-ops-log-")
        try:
            sock = os.path.join(tmp, "s.sock")
            d = subprocess.Popen(
                [STEPD, "daemon", "--socket", sock, "--state", os.path.join(tmp, "state"),
                 "--config", os.path.join(tmp, "none")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                env=dict(os.environ, JOURNAL_STREAM="8:1234"), text=True)
            try:
                deadline = time.monotonic() + 15
                while not os.path.exists(sock):
                    self.assertIsNone(d.poll(), "stepd exited")
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
                r = subprocess.run([STEPCTL, "--socket", sock, "run", "-p", "logproj", "--",
                                    "/bin/true"], capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
            finally:
                d.send_signal(signal.SIGTERM)
                _out, err = d.communicate(timeout=30)
            lines = err.splitlines()
            self.assertTrue(lines)
            levels = {"<%d>" % i: n for i, n in enumerate(
                ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"])}
            for line in lines:
                m = re.match(r"^(<[0-7]>)level=([a-z]+) event=[a-z-]+( |$)", line)
                self.assertIsNotNone(m, line)
                self.assertEqual(levels[m.group(1)], m.group(2), line)
            self.assertTrue(any(" event=step-end " in l for l in lines), lines)
            audit = [l for l in lines if " event=audit " in l]
            self.assertEqual(len(audit), 1, lines)
            self.assertTrue(audit[0].startswith("<5>level=notice event=audit step="), audit)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
