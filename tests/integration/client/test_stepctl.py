#!/usr/bin/env python3
"""stepctl against the real daemon: output byte for byte, exit statuses,
scripts, environment, --json, and the commands around a step (ps, status,
result, logs, attach, cancel, Ctrl-C)."""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_harness import DaemonTestCase, PROJECT, STEPCTL  # noqa: E402


def json_lines(data):
    return [json.loads(line) for line in data.decode().splitlines()]


class Run(DaemonTestCase):
    def test_output_byte_exact_exit_0(self):
        # NUL, a byte that is not UTF-8, no final newline, both streams.
        p = self.run_ok("run", "--project", PROJECT, "--", "/bin/sh", "-c",
                        r"printf 'a\000b\377\n'; printf 'to stderr' >&2; printf tail")
        self.assertEqual(p.stdout, b"a\x00b\xff\ntail")
        self.assertEqual(p.stderr, b"to stderr")

    def test_large_output(self):
        # More than a pipe buffer and more than one output event.
        p = self.run_ok("run", "--project", PROJECT, "--", "/bin/sh", "-c",
                        "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done")
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 20000)
        self.assertEqual(lines[0], "line-0")
        self.assertEqual(lines[-1], "line-19999")

    def test_exit_code_3(self):
        p = self.stepctl("run", "--project", PROJECT, "--", "/bin/sh", "-c", "echo out; exit 3")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, b"out\n")
        self.assertEqual(p.stderr, b"")

    def test_sigkill_is_137(self):
        p = self.stepctl("--json", "run", "--project", PROJECT, "--", "/bin/sh", "-c",
                         "echo before; kill -KILL $$; echo after")
        self.assertEqual(p.returncode, 128 + 9, p.stderr)
        events = json_lines(p.stdout)
        res = events[-1]["result"]
        self.assertEqual((res["reason"], res["signal"], res["exit_code"]), ("signaled", 9, -1))
        out = b"".join(base64.b64decode(e["data"]) for e in events if e["type"] == "output")
        self.assertEqual(out, b"before\n")

    def test_script(self):
        with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
            f.write("echo \"script $0 pid1=$$\"\nexit 7\n")
            f.flush()
            p = self.stepctl("run", "--project", PROJECT, "--script", f.name)
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertRegex(p.stdout.decode(), r"^script \S+ pid1=\d+\n$")

    def test_script_interpreter(self):
        with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
            f.write("import sys\nprint('python', sys.version_info[0])\nsys.exit(4)\n")
            f.flush()
            p = self.stepctl("run", "--project", PROJECT, "--interpreter", "/usr/bin/python3",
                             "--script", f.name)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(p.stdout, b"python 3\n")

    def test_env_reaches_step_and_nothing_leaks(self):
        env = dict(os.environ, CLIENT_TEST_LEAK="should-not-leak",
                   LEAK_CANARY_XYZ="should-not-leak", CLIENT_TEST_PASS="passed through")
        p = self.run_ok("run", "--project", PROJECT, "--env", "CLIENT_TEST_A=hello world",
                        "-e", "CLIENT_TEST_B=a=b", "--env-pass", "CLIENT_TEST_PASS",
                        "--", "/usr/bin/env", env=env)
        step_env = p.stdout.decode().splitlines()
        self.assertIn("CLIENT_TEST_A=hello world", step_env)
        self.assertIn("CLIENT_TEST_B=a=b", step_env)
        self.assertIn("CLIENT_TEST_PASS=passed through", step_env)
        self.assertNotIn("should-not-leak", p.stdout.decode())
        # Nothing of stepctl's own environment that was not asked for.
        mine = {k + "=" + v for k, v in env.items()}
        asked = {"CLIENT_TEST_A=hello world", "CLIENT_TEST_B=a=b",
                 "CLIENT_TEST_PASS=passed through"}
        leaked = [line for line in step_env if line in mine and line not in asked
                  and not line.startswith(("PATH=", "LANG=", "TERM=", "HOME="))]
        self.assertEqual(leaked, [])

    def test_stdin_file_and_interactive(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"from file\x00\xfe\n")
            f.flush()
            p = self.run_ok("run", "--project", PROJECT, "--stdin", f.name, "--", "/bin/cat")
        self.assertEqual(p.stdout, b"from file\x00\xfe\n")
        p = self.run_ok("run", "--project", PROJECT, "-i", "--", "/bin/cat",
                        input=b"from a pipe\n")
        self.assertEqual(p.stdout, b"from a pipe\n")
        # Without either, stdin is /dev/null: cat ends at once.
        p = self.run_ok("run", "--project", PROJECT, "--", "/bin/cat", timeout=20)
        self.assertEqual(p.stdout, b"")

    def test_json(self):
        p = self.stepctl("--json", "run", "--project", PROJECT, "--", "/bin/sh", "-c",
                         "echo hi; echo err >&2; exit 5")
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(p.stderr, b"")
        events = json_lines(p.stdout)
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "accepted")
        self.assertEqual(types[-1], "exit")
        self.assertIn("started", types)
        step = events[0]["step"]
        self.assertTrue(all(e["step"] == step for e in events))
        outs = [e for e in events if e["type"] == "output"]
        self.assertEqual(b"".join(base64.b64decode(e["data"]) for e in outs
                                  if e["stream"] == "stdout"), b"hi\n")
        self.assertEqual(b"".join(base64.b64decode(e["data"]) for e in outs
                                  if e["stream"] == "stderr"), b"err\n")
        res = events[-1]["result"]
        self.assertEqual((res["reason"], res["exit_code"]), ("exited", 5))
        self.assertGreater(res["wall_ms"], 0)

    def test_timeout(self):
        t0 = time.monotonic()
        p = self.stepctl("run", "--project", PROJECT, "--timeout", "1s", "--", "/bin/sleep",
                         "30")
        self.assertLess(time.monotonic() - t0, 15)
        self.assertGreaterEqual(p.returncode, 128, p.stderr)
        self.assertIn(b" timeout", p.stderr)

    def test_unknown_project(self):
        p = self.stepctl("run", "--project", "no-such-project", "--", "true")
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stdout, b"")
        self.assertTrue(p.stderr.startswith(b"stepctl: stepd: unknown-project"), p.stderr)
        self.assertEqual(p.stderr.count(b"\n"), 1)

    def test_idempotency_key(self):
        key = "client-test-%d" % os.getpid()
        a = self.stepctl("--json", "run", "-p", PROJECT, "--idempotency-key", key, "--",
                         "/bin/sh", "-c", "echo once")
        b = self.stepctl("--json", "run", "-p", PROJECT, "--idempotency-key", key, "--",
                         "/bin/sh", "-c", "echo twice")
        self.assertEqual((a.returncode, b.returncode), (0, 0), (a.stderr, b.stderr))
        ea, eb = json_lines(a.stdout), json_lines(b.stdout)
        self.assertEqual(ea[0]["step"], eb[0]["step"])
        self.assertIs(eb[0]["existing"], True)


class AroundAStep(DaemonTestCase):
    def start_json(self, *argv, extra=()):
        """A stepctl run --json in the background; returns (process, step id)."""
        p = self.stepctl_bg("--json", "run", "--project", PROJECT, *extra, "--", *argv)
        first = json.loads(p.stdout.readline())
        self.assertEqual(first["type"], "accepted", first)
        return p, first["step"]

    def read_until_output(self, p, want):
        got = b""
        while want not in got:
            ev = json.loads(p.stdout.readline())
            if ev["type"] == "output":
                got += base64.b64decode(ev["data"])
            self.assertNotEqual(ev["type"], "exit", ev)
        return got

    def test_ps_status_result_logs(self):
        p = self.stepctl("--json", "run", "-p", PROJECT, "--", "/bin/sh", "-c",
                         "echo logged line; echo on stderr >&2; exit 2")
        self.assertEqual(p.returncode, 2)
        step = json_lines(p.stdout)[0]["step"]

        ps = self.run_ok("ps")
        rows = [line.split() for line in ps.stdout.decode().splitlines()]
        self.assertEqual(rows[0], ["STEP", "PROJECT", "STATE", "REASON", "AGE"])
        mine = [r for r in rows if r[0] == step]
        self.assertEqual(len(mine), 1, rows)
        self.assertEqual(mine[0][1:4], [PROJECT, "done", "exited"])
        psj = json.loads(self.run_ok("--json", "ps").stdout)
        self.assertIn(step, [s["step"] for s in psj["steps"]])

        res = self.run_ok("result", step).stdout.decode()
        self.assertTrue(res.startswith(step + " exited code=2 "), res)
        self.assertTrue(res.endswith(" exit_status=2\n"), res)
        resj = json.loads(self.run_ok("result", "--json", step).stdout)
        self.assertEqual(resj["result"]["exit_code"], 2)

        logs = self.run_ok("logs", step)
        self.assertEqual(logs.stdout, b"logged line\n")
        self.assertEqual(logs.stderr, b"on stderr\n")
        logs = self.run_ok("logs", step, "--offset", "7")
        self.assertEqual(logs.stdout, b"line\n")

        st = self.run_ok("status").stdout.decode()
        self.assertRegex(st, r"(?m)^capacity: +2$")
        self.assertRegex(st, r"(?m)^running: +\d+$")
        stj = json.loads(self.run_ok("status", "--json").stdout)
        self.assertEqual(stj["capacity"], 2)
        self.assertEqual(stj["queue_limit"], 8)

    def test_result_of_unknown_step(self):
        p = self.stepctl("result", "no-such-step-0")
        self.assertEqual(p.returncode, 125)
        self.assertTrue(p.stderr.startswith(b"stepctl: stepd: no-such-step"), p.stderr)

    def test_cancel_from_second_stepctl(self):
        p, step = self.start_json("/bin/sh", "-c", "echo started; exec sleep 60")
        self.read_until_output(p, b"started\n")
        c = self.run_ok("cancel", step)
        self.assertEqual(c.stdout.decode(), "cancelling %s\n" % step)
        out, err = p.communicate(timeout=20)
        events = json_lines(out)
        self.assertEqual(events[-1]["type"], "exit")
        res = events[-1]["result"]
        self.assertEqual(res["reason"], "cancelled")
        self.assertEqual(p.returncode, 128 + res["signal"], (res, err))
        self.assertGreater(res["signal"], 0)
        r = self.run_ok("result", step).stdout.decode()
        self.assertIn(" cancelled ", r)

    def test_cancel_text_mode_status_and_message(self):
        p = self.stepctl_bg("run", "--project", PROJECT, "--", "/bin/sh", "-c",
                            "echo started; exec sleep 60")
        self.assertEqual(p.stdout.readline(), b"started\n")
        step = [s["step"] for s in json.loads(self.run_ok("--json", "ps").stdout)["steps"]
                if s["state"] == "running"]
        self.assertEqual(len(step), 1, step)
        self.run_ok("cancel", step[0])
        out, err = p.communicate(timeout=20)
        m = re.match(r"^stepctl: step %s cancelled signal=(\d+) wall=\S+ cpu=\S+ mem=\S+\n$"
                     % step[0], err.decode())
        self.assertIsNotNone(m, err)
        self.assertIn(int(m.group(1)), (signal.SIGTERM, signal.SIGKILL))
        self.assertEqual(p.returncode, 128 + int(m.group(1)))
        self.assertEqual(out, b"")  # "started\n" was read above

    def test_ctrl_c_cancels(self):
        p, step = self.start_json("/bin/sh", "-c", "echo started; exec sleep 60")
        self.read_until_output(p, b"started\n")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        self.assertIn(b"cancelling step " + step.encode(), err)
        res = json_lines(out)[-1]["result"]
        self.assertEqual(res["reason"], "cancelled")
        self.assertEqual(p.returncode, 128 + res["signal"])

    def test_attach_and_logs_of_running_step(self):
        p, step = self.start_json("/bin/sh", "-c",
                                  "echo one; read x < /dev/null; sleep 2; echo two; exit 6")
        self.read_until_output(p, b"one\n")
        logs = self.run_ok("logs", step, timeout=10)
        self.assertEqual(logs.stdout, b"one\n")
        a = self.stepctl("attach", step, "--offset", "2")
        self.assertEqual(a.returncode, 6, a.stderr)
        self.assertEqual(a.stdout, b"e\ntwo\n")
        p.communicate(timeout=20)
        self.assertEqual(p.returncode, 6)
        # Attaching to an ended step replays from the log and exits at once.
        a = self.stepctl("attach", step)
        self.assertEqual((a.returncode, a.stdout), (6, b"one\ntwo\n"))


class Admin(DaemonTestCase):
    def test_metrics(self):
        self.run_ok("run", "--project", PROJECT, "--", "/bin/true")
        text = self.run_ok("metrics").stdout.decode()
        self.assertRegex(text, r"(?m)^stepd_capacity 2$")
        self.assertRegex(text, r"(?m)^# TYPE stepd_")
        j = json.loads(self.run_ok("metrics", "--json").stdout)
        self.assertEqual(j["type"], "metrics")
        self.assertIn("stepd_capacity 2", j["text"])

    def test_reload(self):
        settings = os.path.join(self.conf, "stepd.json")
        with open(settings) as f:
            good = f.read()
        self.assertEqual(self.run_ok("reload").stdout, b"reloaded\n")
        try:
            with open(settings, "w") as f:
                f.write('{"capacity": "lots"}\n')
            p = self.stepctl("reload")
            self.assertEqual(p.returncode, 125)
            self.assertTrue(p.stderr.startswith(b"stepctl: stepd: bad-config: "), p.stderr)
            self.assertIn(b"stepd.json", p.stderr)
            self.assertIn(b"capacity", p.stderr)
            self.assertEqual(p.stderr.count(b"\n"), 1)
            # The last good configuration stays in force.
            st = json.loads(self.run_ok("status", "--json").stdout)
            self.assertEqual(st["capacity"], 2)
        finally:
            with open(settings, "w") as f:
                f.write(good)


class Terminal(DaemonTestCase):
    def test_queue_position_on_a_terminal(self):
        import pty
        import stepd_client
        holders = [stepd_client.connect(self.sock) for _ in range(1)]
        self.addCleanup(lambda: [c.close() for c in holders])
        # Capacity 2: one step from here, one from a stepctl, then a third waits.
        acc = holders[0].run(PROJECT, argv=["/bin/sleep", "30"], wait=False)
        other = self.stepctl_bg("run", "-p", PROJECT, "--", "/bin/sh", "-c",
                                "echo running; exec sleep 30")
        self.assertEqual(other.stdout.readline(), b"running\n")
        master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm")
        env.pop("NO_COLOR", None)
        waiter = subprocess.Popen([STEPCTL, "--socket", self.sock, "run", "-p", PROJECT, "--",
                                   "/bin/echo", "finally"],
                                  stdout=subprocess.PIPE, stderr=slave, env=env)
        self.addCleanup(lambda: waiter.poll() is None and waiter.kill())
        os.close(slave)
        seen = b""
        while b"position 1" not in seen:
            seen += os.read(master, 4096)
        holders[0].cancel(acc["step"])
        out, _ = waiter.communicate(timeout=20)
        self.assertEqual((waiter.returncode, out), (0, b"finally\n"))
        try:
            while True:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
        except OSError:
            pass
        os.close(master)
        text = seen.decode()
        self.assertIn("queued, position 1", text)
        self.assertIn("\r\033[K", text)  # the queue line is wiped when the step starts
        self.assertRegex(text, r"\033\[32mexited code=0 wall=")
        other.send_signal(signal.SIGINT)
        other.communicate(timeout=20)


class DaemonDies(DaemonTestCase):
    def test_connection_lost_is_125_then_result_lost(self):
        p = self.stepctl_bg("--json", "run", "--project", PROJECT, "--", "/bin/sh", "-c",
                            "echo up; exec sleep 2")
        step = json.loads(p.stdout.readline())["step"]
        while json.loads(p.stdout.readline())["type"] != "output":
            pass
        self.daemon.kill()  # SIGKILL: no goodbye to the client
        self.daemon.wait()
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(err.decode(), "stepctl: connection to stepd lost while following "
                         "step %s (stepctl attach %s --offset 3)\n" % (step, step))
        time.sleep(2.5)  # the orphaned step ends by itself
        self.start_daemon()
        res = json.loads(self.run_ok("result", "--json", step).stdout)["result"]
        self.assertEqual(res["reason"], "lost")
        p = self.stepctl("attach", step)
        self.assertEqual((p.returncode, p.stdout), (125, b"up\n"))
        self.assertIn(b"step %s lost" % step.encode(), p.stderr)


class Limits(DaemonTestCase):
    daemon_args = ["--max-connections", "2"]

    def test_too_many_connections(self):
        import stepd_client
        held = [stepd_client.connect(self.sock) for _ in range(2)]
        self.addCleanup(lambda: [c.close() for c in held])
        p = self.stepctl("ps")
        self.assertEqual(p.returncode, 125)
        self.assertTrue(p.stderr.startswith(b"stepctl: stepd refused the connection: "
                                            b"too-many-connections"), p.stderr)
        self.assertEqual(p.stderr.count(b"\n"), 1)
        held.pop().close()
        time.sleep(0.2)
        self.run_ok("ps")


if __name__ == "__main__":
    unittest.main(verbosity=2)
