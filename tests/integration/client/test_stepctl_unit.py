#!/usr/bin/env python3
"""stepctl on its own: argument errors, a missing socket, and how it
handles what a server sends (a scripted fake stepd, fakestepd.py): byte-exact
output, exit statuses, errors, a cut connection, garbage, Ctrl-C, --json."""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakestepd import FakeStepd, result  # noqa: E402

STEPCTL = os.environ.get("STEPCTL", "stepctl")
STEP = "0067409a3f-1c2d3e4f"


def stepctl(*args, sock=None, env=None, input=None, timeout=20):
    cmd = [STEPCTL] + (["--socket", sock] if sock else []) + list(args)
    return subprocess.run(cmd, capture_output=True, input=input, env=env, timeout=timeout)


class ArgumentErrors(unittest.TestCase):
    """Usage errors exit 125 (like docker) with one line naming the problem."""

    def check_usage(self, args, needle):
        p = stepctl(*args, sock="/nonexistent/never-used.sock")
        self.assertEqual(p.returncode, 125, p)
        err = p.stderr.decode()
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("stepctl: "), err)
        self.assertIn(needle, err)
        self.assertEqual(p.stdout, b"")
        # A usage error never reaches the connection step.
        self.assertNotIn("cannot connect", err)

    def test_unknown_global_option(self):
        self.check_usage(["--bogus", "ps"], "unknown option '--bogus'")

    def test_unknown_command(self):
        self.check_usage(["frobnicate"], "unknown command 'frobnicate'")

    def test_unknown_run_option(self):
        self.check_usage(["run", "--project", "demo", "--frob", "--", "true"],
                         "unknown option '--frob'")

    def test_run_needs_project(self):
        self.check_usage(["run", "--", "true"], "--project is required")

    def test_run_needs_command(self):
        self.check_usage(["run", "--project", "demo"], "no command given")

    def test_run_bad_project(self):
        self.check_usage(["run", "--project", "Bad/Name", "true"], "invalid project name")

    def test_run_bad_timeout(self):
        self.check_usage(["run", "-p", "demo", "--timeout", "ten", "true"], "invalid --timeout")

    def test_run_bad_env(self):
        self.check_usage(["run", "-p", "demo", "--env", "NOEQUALS", "true"], "not KEY=VALUE")

    def test_run_bad_label(self):
        self.check_usage(["run", "-p", "demo", "--label", "=v", "true"], "not KEY=VALUE")

    def test_run_missing_value(self):
        self.check_usage(["run", "-p", "demo", "--timeout"], "needs a value")

    def test_run_script_and_command(self):
        self.check_usage(["run", "-p", "demo", "--script", "/dev/null", "true"],
                         "either --script or a command")

    def test_run_stdin_and_interactive(self):
        self.check_usage(["run", "-p", "demo", "--stdin", "/dev/null", "-i", "true"],
                         "either --stdin or -i")

    def test_attach_needs_step(self):
        self.check_usage(["attach"], "no STEP given")

    def test_attach_bad_step(self):
        self.check_usage(["attach", "../etc"], "is not a step id")

    def test_attach_bad_offset(self):
        self.check_usage(["attach", STEP, "--offset", "-1"], "invalid --offset")

    def test_cancel_takes_no_offset(self):
        self.check_usage(["cancel", STEP, "--offset", "3"], "unknown option '--offset'")

    def test_ps_takes_no_argument(self):
        self.check_usage(["ps", "extra"], "unexpected argument 'extra'")

    def test_missing_script_file(self):
        p = stepctl("run", "-p", "demo", "--script", "/nonexistent/x.sh",
                    sock="/nonexistent/s.sock")
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"cannot open script /nonexistent/x.sh: No such file", p.stderr)

    def test_stdin_too_large(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x" * (512 * 1024 + 1))
            f.flush()
            p = stepctl("run", "-p", "demo", "--stdin", f.name, "cat",
                        sock="/nonexistent/s.sock")
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"larger than 512 KiB", p.stderr)

    def test_help_everywhere(self):
        for args in (["--help"], ["run", "--help"], ["attach", "--help"], ["logs", "--help"],
                     ["cancel", "--help"], ["ps", "--help"], ["status", "--help"],
                     ["result", "--help"], ["help", "run"]):
            p = stepctl(*args)
            self.assertEqual(p.returncode, 0, args)
            self.assertTrue(p.stdout.startswith(b"Usage: stepctl"), (args, p.stdout[:60]))
        self.assertIn(b"--json", stepctl("run", "--help").stdout)
        self.assertIn(b"125", stepctl("--help").stdout)

    def test_version(self):
        p = stepctl("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"^stepctl \d+\.\d+\.\d+\n$")


class MissingSocket(unittest.TestCase):
    def test_missing_socket(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "absent.sock")
        p = stepctl("run", "--project", "demo", "--", "true", sock=path)
        os.rmdir(d)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr.decode(), "stepctl: cannot connect to %s: "
                         "No such file or directory (is stepd running?)\n" % path)
        self.assertEqual(p.stdout, b"")

    def test_env_socket(self):
        env = dict(os.environ, STEPD_SOCKET="/nonexistent/from-env.sock")
        p = stepctl("ps", env=env)
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"cannot connect to /nonexistent/from-env.sock", p.stderr)
        # --socket wins over the environment.
        p = stepctl("ps", sock="/nonexistent/from-option.sock", env=env)
        self.assertIn(b"cannot connect to /nonexistent/from-option.sock", p.stderr)


class FakeServerCase(unittest.TestCase):
    def serve(self, handler):
        self.fake = FakeStepd(handler)
        self.addCleanup(self.fake.close)
        return self.fake

    def tearDown(self):
        if getattr(self, "fake", None):
            self.assertEqual(self.fake.errors, [])


def run_handler(events_after_accept, check_request=None, queue_position=0):
    def handler(conn):
        conn.hello()
        req = conn.recv()
        if check_request:
            check_request(req)
        conn.send({"type": "accepted", "req": req["req"], "step": STEP,
                   "queue_position": queue_position, "existing": False})
        for ev in events_after_accept:
            if callable(ev):
                if ev(conn) is False:
                    return
            else:
                conn.send(ev)
        conn.recv()  # wait for the client to go
    return handler


def out(stream, offset, data):
    return {"type": "output", "step": STEP, "stream": stream, "offset": offset,
            "data": base64.b64encode(data).decode()}


def exit_ev(**kw):
    return {"type": "exit", "step": STEP, "result": result(**kw)}


class RunAgainstFake(FakeServerCase):
    def test_request_and_byte_exact_output(self):
        seen = {}

        def check(req):
            seen.update(req)

        binary = bytes(range(256)) + b"\x00\xff no newline"
        fake = self.serve(run_handler([
            {"type": "started", "step": STEP},
            out("stdout", 0, b"hello\n"),
            out("stderr", 6, b"warn\n"),
            out("stdout", 11, binary),
            out("stdout", 11, binary[:10]),      # a repeat: dropped
            exit_ev(exit_code=3),
        ], check))
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"in\x00put")
            f.flush()
            env = dict(os.environ, PASSME="passed")
            p = stepctl("run", "--project", "demo", "--env", "A=1", "-e", "B=x=y",
                        "--env-pass", "PASSME", "--env-pass", "UNSET_VAR_XYZ",
                        "--label", "pipeline=42", "--timeout", "1m", "--stdin", f.name,
                        "--idempotency-key", "k-1", "--cancel-on-disconnect",
                        "--", "/bin/echo", "--not-an-option", "x y",
                        sock=fake.path, env=env)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, b"hello\n" + binary)
        self.assertEqual(p.stderr, b"warn\n")
        self.assertEqual(seen["type"], "run")
        self.assertEqual(seen["project"], "demo")
        self.assertEqual(seen["argv"], ["/bin/echo", "--not-an-option", "x y"])
        self.assertEqual(seen["env"], {"A": "1", "B": "x=y", "PASSME": "passed"})
        self.assertEqual(seen["labels"], {"pipeline": "42"})
        self.assertEqual(seen["timeout_ms"], 60000)
        self.assertEqual(base64.b64decode(seen["stdin"]), b"in\x00put")
        self.assertEqual(seen["idempotency_key"], "k-1")
        self.assertIs(seen["cancel_on_disconnect"], True)
        self.assertNotIn("script", seen)
        hello = fake.conns[0].received[0]
        self.assertEqual(hello["version"], 1)
        self.assertTrue(hello["client"].startswith("stepctl/"))

    def test_script_and_interpreter(self):
        seen = {}
        fake = self.serve(run_handler([exit_ev(exit_code=0)], seen.update))
        with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
            f.write("print('hi')\n")
            f.flush()
            p = stepctl("run", "-p", "demo", "--script", f.name,
                        "--interpreter", "/usr/bin/python3", sock=fake.path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(seen["script"], "print('hi')\n")
        self.assertEqual(seen["interpreter"], "/usr/bin/python3")
        self.assertNotIn("argv", seen)
        self.assertNotIn("stdin", seen)

    def test_interactive_stdin(self):
        seen = {}
        fake = self.serve(run_handler([exit_ev()], seen.update))
        p = stepctl("run", "-p", "demo", "-i", "cat", sock=fake.path, input=b"piped\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(base64.b64decode(seen["stdin"]), b"piped\n")

    def check_status(self, res, want, message_needle=None):
        fake = self.serve(run_handler([{"type": "started", "step": STEP}, res]))
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, want, p.stderr)
        if message_needle:
            err = p.stderr.decode()
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn(message_needle, err)
        else:
            self.assertEqual(p.stderr, b"")

    def test_signaled(self):
        self.check_status(exit_ev(reason="signaled", exit_code=-1, signal=9), 137)

    def test_timeout(self):
        self.check_status(exit_ev(reason="timeout", exit_code=-1, signal=9), 137,
                          "step %s timeout signal=9" % STEP)

    def test_setup_failed(self):
        res = exit_ev(reason="setup-failed", exit_code=-1)
        res["result"].update(setup_step="mounts", setup_errno=13)
        self.check_status(res, 125, "setup-failed")

    def test_rejected(self):
        self.check_status(exit_ev(reason="rejected", exit_code=-1, message="no agent"), 125,
                          "rejected")

    def test_lost(self):
        self.check_status(exit_ev(reason="lost", exit_code=-1), 125, "lost")

    def test_error_reply(self):
        def handler(conn):
            conn.hello()
            req = conn.recv()
            conn.send({"type": "error", "req": req["req"], "code": "queue-full",
                       "message": "4 steps running and 64 queued; try again later"})
            conn.recv()
        fake = self.serve(handler)
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, b"stepctl: stepd: queue-full: 4 steps running and 64 "
                         b"queued; try again later\n")
        p = stepctl("--json", "run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(json.loads(p.stdout)["code"], "queue-full")

    def test_hello_refused(self):
        def handler(conn):
            conn.recv()
            conn.send({"type": "error", "code": "unsupported-version", "message": "v1 only"})
        fake = self.serve(handler)
        p = stepctl("ps", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, b"stepctl: stepd refused the connection: "
                         b"unsupported-version: v1 only\n")

    def test_connection_lost(self):
        fake = self.serve(run_handler([{"type": "started", "step": STEP},
                                       out("stdout", 0, b"part"), lambda c: False]))
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stdout, b"part")
        self.assertEqual(p.stderr.decode(),
                         "stepctl: connection to stepd lost while following step %s "
                         "(stepctl attach %s --offset 4)\n" % (STEP, STEP))

    def test_garbage_frame(self):
        fake = self.serve(run_handler([lambda c: c.send_raw(b"\x00\x00\x00\x03{x}")]))
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"connection to stepd lost while following step", p.stderr)

    def test_oversized_frame(self):
        fake = self.serve(run_handler([lambda c: c.send_raw(b"\x7f\x00\x00\x00")]))
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)

    def test_bad_base64(self):
        fake = self.serve(run_handler([{"type": "output", "step": STEP, "stream": "stdout",
                                        "offset": 0, "data": "!!!!"}]))
        p = stepctl("run", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertIn(b"malformed `output`", p.stderr)

    def test_json(self):
        fake = self.serve(run_handler([{"type": "started", "step": STEP},
                                       out("stdout", 0, b"hi\n"), exit_ev(exit_code=4)]))
        p = stepctl("run", "--json", "-p", "demo", "true", sock=fake.path)
        self.assertEqual(p.returncode, 4)
        lines = [json.loads(l) for l in p.stdout.decode().splitlines()]
        self.assertEqual([l["type"] for l in lines], ["accepted", "started", "output", "exit"])
        self.assertEqual(base64.b64decode(lines[2]["data"]), b"hi\n")
        self.assertEqual(lines[3]["result"]["exit_code"], 4)
        self.assertEqual(p.stderr, b"")


class CtrlC(FakeServerCase):
    def test_first_cancels_second_detaches(self):
        got_cancel = []

        def handler(conn):
            conn.hello()
            req = conn.recv()
            conn.send({"type": "accepted", "req": req["req"], "step": STEP,
                       "queue_position": 0, "existing": False})
            conn.send({"type": "started", "step": STEP})
            conn.output(STEP, "stdout", 0, b"ready\n")
            cancel = conn.recv()
            got_cancel.append(cancel)
            conn.send({"type": "cancelling", "req": cancel["req"], "step": STEP})
            conn.recv()  # hold the step until the client leaves

        fake = self.serve(handler)
        p = subprocess.Popen([STEPCTL, "--socket", fake.path, "run", "-p", "demo", "sleep"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        p.send_signal(signal.SIGINT)
        deadline = time.time() + 10
        while not got_cancel and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(got_cancel[0]["type"], "cancel")
        self.assertEqual(got_cancel[0]["step"], STEP)
        self.assertIsNone(p.poll())  # still waiting for the exit
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 130)
        self.assertIn(b"cancelling step " + STEP.encode(), err)
        self.assertIn(b"detached from step %s; resume with: stepctl attach %s --offset 6"
                      % (STEP.encode(), STEP.encode()), err)

    def test_cancel_then_exit(self):
        def handler(conn):
            conn.hello()
            req = conn.recv()
            conn.send({"type": "accepted", "req": req["req"], "step": STEP,
                       "queue_position": 0, "existing": False})
            conn.send({"type": "started", "step": STEP})
            conn.output(STEP, "stdout", 0, b"ready\n")
            cancel = conn.recv()
            conn.send({"type": "cancelling", "req": cancel["req"], "step": STEP})
            conn.send({"type": "exit", "step": STEP,
                       "result": result("cancelled", exit_code=-1, signal=9)})
            conn.recv()

        fake = self.serve(handler)
        p = subprocess.Popen([STEPCTL, "--socket", fake.path, "run", "-p", "demo", "sleep"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 137, err)
        self.assertIn(b"step %s cancelled signal=9" % STEP.encode(), err)


class Terminal(FakeServerCase):
    """Queue position and the summary go to stderr only when it is a tty."""

    def run_with_tty_stderr(self, fake, env_extra):
        import pty
        master, slave = pty.openpty()
        env = dict(os.environ, **env_extra)
        if "NO_COLOR" not in env_extra:
            env.pop("NO_COLOR", None)
        p = subprocess.Popen([STEPCTL, "--socket", fake.path, "run", "-p", "demo", "x"],
                             stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        out, _ = p.communicate(timeout=10)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        return p.returncode, out, err

    def handler(self):
        return run_handler([{"type": "queued", "step": STEP, "queue_position": 1},
                            {"type": "started", "step": STEP},
                            out("stdout", 0, b"hi\n"), exit_ev(exit_code=0)],
                           queue_position=2)

    def test_queue_and_summary_on_tty(self):
        fake = self.serve(self.handler())
        rc, stdout, err = self.run_with_tty_stderr(fake, {"TERM": "xterm"})
        self.assertEqual((rc, stdout), (0, b"hi\n"))
        text = err.decode()
        self.assertIn("step %s queued, position 2" % STEP, text)
        self.assertIn("step %s queued, position 1" % STEP, text)
        self.assertIn("\033[32mexited code=0 wall=0.013s cpu=0.003s mem=1.0MiB", text)

    def test_no_color(self):
        fake = self.serve(self.handler())
        rc, _, err = self.run_with_tty_stderr(fake, {"TERM": "xterm", "NO_COLOR": "1"})
        self.assertEqual(rc, 0)
        self.assertIn(b"step %s exited code=0 " % STEP.encode(), err)
        self.assertNotIn(b"\033[3", err)

    def test_nothing_without_tty(self):
        fake = self.serve(self.handler())
        p = stepctl("run", "-p", "demo", "x", sock=fake.path)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, b"hi\n", b""))


class Queries(FakeServerCase):
    def reply_with(self, make_reply):
        def handler(conn):
            conn.hello()
            req = conn.recv()
            conn.send(make_reply(req))
            conn.recv()
        return self.serve(handler)

    def test_ps(self):
        now = int(time.time() * 1e6)
        fake = self.reply_with(lambda req: {"type": "list", "req": req["req"], "steps": [
            {"step": STEP, "project": "demo", "state": "done", "uid": 0,
             "created_usec": now - 90 * 60 * 10**6, "reason": "exited"},
            {"step": "s2", "project": "other", "state": "running", "uid": 0,
             "created_usec": now - 5 * 10**6, "reason": None}]})
        p = stepctl("ps", sock=fake.path)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [l.split() for l in p.stdout.decode().splitlines()]
        self.assertEqual(rows[0], ["STEP", "PROJECT", "STATE", "REASON", "AGE"])
        self.assertEqual(rows[1], [STEP, "demo", "done", "exited", "90m"])
        self.assertEqual(rows[2][:4], ["s2", "other", "running", "-"])
        self.assertRegex(rows[2][4], r"^[4-9]s$")
        self.assertEqual(fake.conns[0].received[1]["type"], "list")

    def test_status_json(self):
        fake = self.reply_with(lambda req: {"type": "status", "req": req["req"],
                                            "version": "0.1.0", "running": 1, "queued": 2,
                                            "capacity": 4, "queue_limit": 64,
                                            "draining": False})
        p = stepctl("status", "--json", sock=fake.path)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(json.loads(p.stdout)["queued"], 2)
        p = stepctl("status", sock=fake.path)
        self.assertIn(b"capacity:    4\n", p.stdout)
        self.assertIn(b"draining:    no\n", p.stdout)

    def test_result(self):
        fake = self.reply_with(lambda req: {"type": "result", "req": req["req"],
                                            "step": req["step"],
                                            "result": result("signaled", -1, 15)})
        p = stepctl("result", STEP, sock=fake.path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(),
                         r"^%s signaled signal=15 wall=0\.01\ds cpu=0\.003s mem=1\.0MiB "
                         r"exit_status=143\n$" % STEP)

    def test_not_finished(self):
        fake = self.reply_with(lambda req: {"type": "error", "req": req["req"],
                                            "code": "not-finished", "message": "running"})
        p = stepctl("result", STEP, sock=fake.path)
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, b"stepctl: stepd: not-finished: running\n")

    def test_logs_running_step_stops_at_backlog(self):
        def handler(conn):
            conn.hello()
            req = conn.recv()
            assert req["type"] == "attach" and req["offset"] == 2, req
            conn.send({"type": "attached", "req": req["req"], "step": STEP,
                       "state": "running"})
            conn.output(STEP, "stdout", 2, b"so far\n")
            conn.recv()  # the step goes on; stepctl logs must not wait for it
        fake = self.serve(handler)
        p = stepctl("logs", STEP, "--offset", "2", sock=fake.path, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"so far\n")

    def test_logs_with_output_bytes(self):
        def handler(conn):
            conn.hello()
            req = conn.recv()
            conn.send({"type": "attached", "req": req["req"], "step": STEP,
                       "state": "running", "output_bytes": 6})
            conn.output(STEP, "stdout", 0, b"abc")
            time.sleep(1)  # longer than the idle fallback: output_bytes decides
            conn.output(STEP, "stderr", 3, b"def")
            conn.recv()
        fake = self.serve(handler)
        p = stepctl("logs", STEP, sock=fake.path, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((p.stdout, p.stderr), (b"abc", b"def"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
