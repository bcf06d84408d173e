#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Policies in the real daemon: authorization from the peer credentials of
clients that really run as other uids (the test forks and drops to them),
reload with a good and a broken file while a step runs, the environment
allowlist, and two projects' steps at once that cannot see each other."""

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from stepd_client import Client, StepdError  # noqa: E402

STEPD = os.environ.get("STEPD", "stepd")

# Client identities. None of them needs to exist in /etc/passwd: the kernel
# reports whatever uid/gid the client process has.
ALICE, BOB, CAROL, DAVE, MALLORY = 64201, 64202, 64203, 64204, 64299
DEPLOYERS = 64301


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    os.rename(tmp, path)


class Daemon:
    def __init__(self, root):
        self.root = root
        self.sock = os.path.join(root, "s.sock")
        self.state = os.path.join(root, "state")
        self.conf = os.path.join(root, "conf")
        self.log_path = os.path.join(root, "stepd.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [STEPD, "daemon", "--socket", self.sock, "--state", self.state,
             "--config", self.conf, "--socket-mode", "0666", "--log-level", "debug"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        end = time.time() + 20
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("stepd exited %s:\n%s" % (self.proc.returncode, self.log()))
            if os.path.exists(self.sock):
                try:
                    Client(self.sock).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("stepd did not listen:\n" + self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def reload(self, expect):
        """SIGHUP and wait until the log shows one more `expect` line."""
        before = self.log().count(expect)
        os.kill(self.proc.pid, signal.SIGHUP)
        end = time.time() + 10
        while time.time() < end:
            if self.log().count(expect) > before:
                return
            time.sleep(0.05)
        raise AssertionError("no %r after SIGHUP:\n%s" % (expect, self.log()[-3000:]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()

    def client(self):
        c = Client(self.sock)
        c.hello()
        return c


def as_peer(sock, uid, gid, groups, fn):
    """Run fn(client) in a child process that really is uid/gid/groups, and
    return what it returns (JSON-able), or {"error": code, "message": ...}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = {}
        try:
            os.close(r)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            assert os.getuid() == uid and os.geteuid() == uid
            c = Client(sock)
            c.hello()
            try:
                out = {"ok": fn(c)}
            except StepdError as e:
                out = {"error": e.code, "message": e.message}
        except BaseException as e:  # report, never fall back into the test runner
            out = {"crash": repr(e)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    out = json.loads(data)
    if "crash" in out:
        raise AssertionError("client as uid %d crashed: %s" % (uid, out["crash"]))
    return out


def run_echo(c, project, text="hi"):
    run = c.run(project, argv=["/bin/echo", text])
    return {"reason": run.reason, "stdout": run.stdout.decode()}


class PolicyDaemonTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="stepd-policy-daemon-")
        os.chmod(self.root, 0o755)  # clients of other uids reach the socket through it
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.d = Daemon(self.root)
        self.write_settings()
        write_json(os.path.join(self.d.conf, "projects.d", "alpha.json"), {
            "allow": {"users": [ALICE], "groups": [DEPLOYERS]},
            "env_allow": ["GREETING", "CI_*"],
            "env": {"MARK": "one"},
        })
        write_json(os.path.join(self.d.conf, "projects.d", "beta.json"), {
            "allow": {"users": [BOB]},
        })
        self.d.start()
        self.addCleanup(self.d.stop)

    def write_settings(self, **extra):
        settings = {"uid_range": {"min": 310000, "max": 310099}}
        settings.update(extra)
        write_json(os.path.join(self.d.conf, "stepd.json"), settings)

    def peer(self, uid, gid, groups, fn):
        return as_peer(self.d.sock, uid, gid, groups, fn)

    # -- authorization -----------------------------------------------------
    def test_authorization_by_peer_uid_and_groups(self):
        ok = {"ok": {"reason": "exited", "stdout": "hi\n"}}
        self.assertEqual(self.peer(ALICE, ALICE, [], lambda c: run_echo(c, "alpha")), ok)
        # by primary group, and by supplementary group
        self.assertEqual(self.peer(CAROL, DEPLOYERS, [], lambda c: run_echo(c, "alpha")), ok)
        self.assertEqual(self.peer(DAVE, DAVE, [100, DEPLOYERS], lambda c: run_echo(c, "alpha")), ok)
        # nobody admits mallory; alice is not admitted to beta
        out = self.peer(MALLORY, MALLORY, [100], lambda c: run_echo(c, "alpha"))
        self.assertEqual(out["error"], "permission-denied", out)
        self.assertIn('may not run steps of project "alpha"', out["message"])
        out = self.peer(ALICE, ALICE, [], lambda c: run_echo(c, "beta"))
        self.assertEqual(out["error"], "permission-denied", out)
        out = self.peer(ALICE, ALICE, [], lambda c: run_echo(c, "nope"))
        self.assertEqual(out["error"], "unknown-project", out)
        # root always, by default
        with self.d.client() as c:
            self.assertEqual(run_echo(c, "beta"), ok["ok"])

    def test_attach_and_cancel_need_the_policy_too(self):
        with self.d.client() as c:
            acc = c.run("alpha", argv=["/bin/sh", "-c", "echo started; sleep 30"], wait=False)
            step = acc["step"]
            # not admitted to alpha: may neither cancel nor attach
            out = self.peer(MALLORY, MALLORY, [], lambda m: m.cancel(step))
            self.assertEqual(out["error"], "permission-denied", out)
            out = self.peer(MALLORY, MALLORY, [], lambda m: m.attach(step, wait=False))
            self.assertEqual(out["error"], "permission-denied", out)
            out = self.peer(BOB, BOB, [], lambda m: m.attach(step, wait=False))
            self.assertEqual(out["error"], "permission-denied", out)
            # alice is admitted to alpha: she may attach to root's step
            out = self.peer(ALICE, ALICE, [], lambda a: a.attach(step, wait=False)["type"])
            self.assertEqual(out, {"ok": "attached"})
            c.cancel(step)
            run = c.follow(acc)
            self.assertEqual(run.reason, "cancelled")

        # bob may cancel his own step in beta (it outlives his connection); mallory may not
        step = self.peer(BOB, BOB, [],
                         lambda b: b.run("beta", argv=["/bin/sleep", "30"], wait=False)["step"])["ok"]
        out = self.peer(MALLORY, MALLORY, [], lambda m: m.cancel(step))
        self.assertEqual(out["error"], "permission-denied", out)
        out = self.peer(BOB, BOB, [], lambda b: b.cancel(step)["type"])
        self.assertEqual(out, {"ok": "cancelling"})
        with self.d.client() as c:
            self.assertEqual(c.attach(step).reason, "cancelled")

    def test_root_not_always_allowed(self):
        # a step root started while it was still allowed
        with self.d.client() as c:
            step = c.run("alpha", argv=["/bin/sleep", "30"], wait=False)["step"]
        self.write_settings(root_always_allowed=False)
        self.d.reload("event=reloaded")
        with self.d.client() as c:
            for request in (lambda: c.attach(step), lambda: c.cancel(step)):
                with self.assertRaises(StepdError) as e:
                    request()
                self.assertEqual(e.exception.code, "permission-denied")
        self.write_settings(root_always_allowed=True)
        self.d.reload("event=reloaded")
        with self.d.client() as c:
            c.cancel(step)
            self.assertEqual(c.attach(step).reason, "cancelled")
        self.write_settings(root_always_allowed=False)
        self.d.reload("event=reloaded")
        with self.d.client() as c:
            with self.assertRaises(StepdError) as e:
                c.run("alpha", argv=["/bin/true"])
            self.assertEqual(e.exception.code, "permission-denied")
            self.assertIn("root_always_allowed is off", e.exception.message)
        self.assertEqual(self.peer(ALICE, ALICE, [], lambda c: run_echo(c, "alpha"))["ok"]["reason"],
                         "exited")

    # -- user namespace ------------------------------------------------------
    def test_user_namespace_project(self):
        # the state folder is 0700: the step's init reaches its working folder
        # only through what it opened before it took the project's ids
        write_json(os.path.join(self.d.conf, "projects.d", "userns.json"),
                   {"user_namespace": True, "cache": True})
        self.d.reload("event=reloaded")
        with self.d.client() as c:
            run = c.run("userns", argv=["/bin/sh", "-c", "id -u; cat /proc/self/uid_map; "
                                        "touch /work/w /cache/c && echo written"])
        self.assertEqual(run.reason, "exited", run.stderr)
        lines = run.stdout.decode().split("\n")
        self.assertEqual(lines[0], "0")
        inside, outside, count = lines[1].split()
        self.assertEqual((inside, count), ("0", "1"))
        self.assertGreater(int(outside), 0)
        self.assertEqual(lines[2], "written")
        cache = os.path.join(self.d.state, "cache", "userns", "c")
        self.assertEqual(os.stat(cache).st_uid, int(outside))

    # -- environment ---------------------------------------------------------
    def test_environment_allowlist(self):
        with self.d.client() as c:
            run = c.run("alpha", argv=["/usr/bin/env"],
                        env={"GREETING": "hello", "CI_JOB": "7", "SECRET": "x", "MARK": "forged"})
        self.assertEqual(run.reason, "exited", run.stderr)
        env = dict(line.split("=", 1) for line in run.stdout.decode().splitlines())
        self.assertEqual(env.get("GREETING"), "hello")
        self.assertEqual(env.get("CI_JOB"), "7")
        self.assertNotIn("SECRET", env)
        self.assertEqual(env.get("MARK"), "one")  # fixed variables win

    # -- reload --------------------------------------------------------------
    def test_reload_good_and_broken_while_a_step_runs(self):
        alpha = os.path.join(self.d.conf, "projects.d", "alpha.json")
        with self.d.client() as c, self.d.client() as c2:
            acc = c.run("alpha", argv=["/bin/sh", "-c", "sleep 2; echo $MARK"], wait=False)
            write_json(alpha, {"allow": {"users": [ALICE]}, "env": {"MARK": "two"}})
            self.d.reload("event=reloaded")
            self.assertEqual(c2.run("alpha", argv=["/bin/sh", "-c", "echo $MARK"]).stdout, b"two\n")

            write_json(alpha, '{\n  "limits": {"memory": "lots"}\n}\n')
            self.d.reload("reload-failed")
            self.assertIn('%s:2:24: limits.memory: expected a size' % alpha, self.d.log())
            # the last good configuration stays
            self.assertEqual(c2.run("alpha", argv=["/bin/sh", "-c", "echo $MARK"]).stdout, b"two\n")

            run = c.follow(acc)
            self.assertEqual(run.reason, "exited")
            self.assertEqual(run.stdout, b"one\n")  # resolved under the config it started with

    # -- isolation between projects -------------------------------------------
    def test_two_projects_cannot_see_each_other(self):
        secret = "secret-%d" % os.getpid()
        alpha_script = ("id -u; echo %s > /work/%s; sleep 4; echo still-here; cat /work/%s"
                        % (secret, secret, secret))
        beta_script = (
            "id -u\n"
            "sleep 1\n"
            "ls -a /work\n"
            "find / -xdev -name '%s' 2>/dev/null | head -n 3\n"
            "sleep 7 &\n"
            "ps() { for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done; }\n"
            "for i in $(seq 50); do ps | grep -q '[s]leep 7' && break; sleep 0.1; done\n"
            "ps | grep -c '[s]leep 7' || true\n"
            "ps | grep -c '[s]leep 4' || true\n"
            "kill %%1\n"
            "ls %s >/dev/null 2>&1 && echo state-visible || echo state-hidden\n"
            % (secret, self.d.state))
        with self.d.client() as ca, self.d.client() as cb:
            acc_a = ca.run("alpha", script=alpha_script, wait=False)
            run_b = cb.run("beta", script=beta_script)
            run_a = ca.follow(acc_a)
        self.assertEqual(run_a.reason, "exited", run_a.stderr)
        self.assertEqual(run_b.reason, "exited", run_b.stderr)
        a = run_a.stdout.decode().split()
        b = run_b.stdout.decode().splitlines()
        uid_a, uid_b = int(a[0]), int(b[0])
        self.assertNotEqual(uid_a, uid_b)
        for u in (uid_a, uid_b):
            self.assertTrue(310000 <= u <= 310099, u)
        self.assertEqual(a[1:], ["still-here", secret])
        self.assertNotIn(secret, run_b.stdout.decode())   # not in its /work, not anywhere
        self.assertEqual(b[-3], "1")                          # its own processes are visible,
        self.assertEqual(b[-2], "0")                          # alpha's are not
        self.assertEqual(b[-1], "state-hidden")
        # the uids are remembered for the next steps and restarts
        with open(os.path.join(self.d.state, "ids", "alpha")) as f:
            self.assertEqual(int(f.read()), uid_a)
        with open(os.path.join(self.d.state, "ids", "beta")) as f:
            self.assertEqual(int(f.read()), uid_b)

    def test_uid_survives_restart(self):
        with self.d.client() as c:
            first = c.run("beta", argv=["/usr/bin/id", "-u"])
        self.assertEqual(first.reason, "exited", first.stderr)
        self.d.stop()
        self.d.start()
        with self.d.client() as c:
            again = c.run("beta", argv=["/usr/bin/id", "-u"])
            other = c.run("alpha", argv=["/usr/bin/id", "-u"])
        self.assertEqual(again.stdout, first.stdout)
        self.assertNotEqual(other.stdout, first.stdout)
        for out in (first.stdout, other.stdout):
            uid = int(out)
            self.assertTrue(310000 <= uid <= 310099, uid)
            with self.assertRaises(KeyError):
                pwd.getpwuid(uid)  # allocation never takes a passwd user's uid


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root")
        sys.exit(77)
    unittest.main(verbosity=2)
