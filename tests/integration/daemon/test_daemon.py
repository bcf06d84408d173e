#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Integration tests of `stepd daemon`: each test starts the real daemon on
a temporary socket, state folder and configuration folder, and kills it by
pid at the end."""

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Conn, Daemon, collect, frame, processes_with,  # noqa: E402
                     read_log_records, wait_until)

# the interpreter the step sees: the host's system folders are bound read-only
PY = "/usr/bin/python3"
ALL_BYTES_4M = bytes(range(256)) * 16384  # 4 MiB, every byte value
WRITE_4M = "import sys; sys.stdout.buffer.write(bytes(range(256))*16384)"


def step_cgroups(pid, step):
    """Where a daemon's step cgroup is (was) in each hierarchy: <own>/stepd/<step>."""
    paths = []
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, own = line.rstrip("\n").split(":", 2)
            if not ctrls and os.path.isdir("/sys/fs/cgroup/unified"):
                continue  # hybrid: the unified tree has no controllers
            mount = "/sys/fs/cgroup/" + ctrls if ctrls else "/sys/fs/cgroup"
            if not ctrls or set(ctrls.split(",")) & {"memory", "pids", "cpu", "cpuacct"}:
                paths.append(os.path.join(mount + own, "stepd", step))
    return paths


def unfinished_steps(log):
    """Log lines of steps that started and did not end, and every warning or
    error line: what a hang report needs."""
    started, lines = {}, []
    for line in log.splitlines():
        if "event=step-start " in line:
            started[line.split("step=")[1].split()[0]] = True
        elif "event=step-end " in line:
            started.pop(line.split("step=")[1].split()[0], None)
    for line in log.splitlines():
        if any(s in line for s in started) or "level=warning" in line or "level=err" in line:
            lines.append(line)
    return "\n".join(lines[-80:])


def assert_clean_log(test, log):
    for bad in ("Sanitizer", "runtime error:", "double free", "corrupted"):
        test.assertNotIn(bad, log, log[-6000:])


class DaemonTest(unittest.TestCase):
    args = ()
    conf = None

    def setUp(self):
        self.d = Daemon(args=self.args, conf=self.conf)

    def tearDown(self):
        rc = self.d.stop()
        log = self.d.log()
        shutil.rmtree(self.d.tmp, ignore_errors=True)
        # SIGTERM is a graceful stop: exit 0, and nothing a sanitizer build
        # would complain about
        self.assertEqual(rc, 0, log[-6000:])
        assert_clean_log(self, log)

    def assertExited(self, run, code=0):
        self.assertIsNotNone(run.result, "no exit event: %r\n%s" % (run.events[-3:],
                                                                     self.d.log()[-6000:]))
        self.assertEqual(run.reason, "exited", "%r\n%s" % (run.result, self.d.log()[-6000:]))
        self.assertEqual(run.result["exit_code"], code)


class BasicTest(DaemonTest):
    def test_run_and_records(self):
        with self.d.connect() as c:
            run = c.run(argv=["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
        self.assertEqual(run.accepted["queue_position"], 0)
        self.assertFalse(run.accepted["existing"])
        self.assertExited(run, 3)
        self.assertEqual(run.stdout, b"out\n")
        self.assertEqual(run.stderr, b"err\n")
        self.assertTrue(run.offsets_ok)
        types = [e["type"] for e in run.events]
        self.assertEqual(types[0], "started")
        self.assertEqual(types[-1], "exit")
        self.assertEqual(run.result["output_bytes"], 8)
        # records on disk
        sd = self.d.step_dir(run.step)
        self.assertEqual(os.stat(os.path.join(self.d.state)).st_mode & 0o777, 0o700)
        with open(os.path.join(sd, "request.json")) as f:
            req = json.load(f)
        self.assertEqual(req["project"], "demo")
        self.assertEqual(req["request"]["argv"][0], "/bin/sh")
        with open(os.path.join(sd, "result.json")) as f:
            res = json.load(f)
        self.assertEqual(res["result"]["reason"], "exited")
        self.assertEqual(res["result"]["exit_code"], 3)
        recs = read_log_records(os.path.join(sd, "log"))
        self.assertEqual(b"".join(d for s, d in recs if s == 1), b"out\n")
        self.assertEqual(b"".join(d for s, d in recs if s == 2), b"err\n")
        # the working folder is gone (removed just after exit is sent)
        workdir = os.path.join(self.d.state, "work", "demo", run.step)
        self.assertTrue(wait_until(lambda: not os.path.exists(workdir), timeout=5))
        # and so is its cgroup, in every hierarchy (the base proves the path)
        cgroups = step_cgroups(self.d.proc.pid, run.step)
        self.assertTrue(cgroups)
        for path in cgroups:
            self.assertTrue(os.path.isdir(os.path.dirname(path)), path)
            self.assertTrue(wait_until(lambda: not os.path.exists(path), timeout=5), path)
        # one audit line
        audit = [l for l in self.d.log().splitlines() if "event=audit step=%s " % run.step in l]
        self.assertEqual(len(audit), 1, audit)
        self.assertIn(" project=demo peer_uid=0 ", audit[0])
        self.assertIn(" reason=exited exit_code=3 ", audit[0])

    def test_step_cgroup_made_ahead_and_spares_removed_at_stop(self):
        pid = self.d.proc.pid
        bases = [os.path.dirname(p) for p in step_cgroups(pid, "x")]
        self.assertTrue(bases)

        def spares():
            """{hierarchy base: {inode of each spare-<pid>-N}}"""
            found = {}
            for b in bases:
                found[b] = set()
                for n in os.listdir(b):
                    if n.startswith("spare-%d-" % pid):
                        try:
                            found[b].add(os.stat(os.path.join(b, n)).st_ino)
                        except FileNotFoundError:
                            pass  # taken or removed meanwhile
            return found

        if not os.path.isdir("/sys/fs/cgroup/unified") and \
                os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.skipTest("cgroup v2: no rename, so no spares (the worker only removes)")
        with self.d.connect() as c:
            self.assertExited(c.run(argv=["/bin/true"]))
        # the first step told the pool its limits: spares follow, in every hierarchy
        self.assertTrue(wait_until(lambda: all(spares().values()), timeout=10), spares())
        before = spares()
        with self.d.connect() as c:
            req = c.request({"type": "run", "project": "demo", "argv": ["/bin/sleep", "5"]})
            acc = c.recv()
            self.assertEqual((acc["type"], acc["req"]), ("accepted", req), acc)
            while c.recv()["type"] != "started":
                pass
            # the running step's cgroup, under its own id, is a spare made
            # before it was asked for (same directory: same inode)
            for path in step_cgroups(pid, acc["step"]):
                self.assertIn(os.stat(path).st_ino, before[os.path.dirname(path)], path)
                if path.startswith("/sys/fs/cgroup/memory/"):
                    with open(os.path.join(path, "memory.limit_in_bytes")) as f:
                        self.assertEqual(int(f.read()), 1 << 30)  # the default limit
            c.request({"type": "cancel", "step": acc["step"]})
        self.assertEqual(self.d.stop(), 0, self.d.log()[-3000:])
        # a stopped daemon leaves no spare behind
        self.assertEqual(spares(), {b: set() for b in bases})

    def test_network_none_step_enters_a_spare_namespace(self):
        pid = self.d.proc.pid
        host_ns = os.stat("/proc/%d/ns/net" % pid).st_ino

        def spares():
            """inodes of the network namespaces the daemon holds, but its own"""
            found = set()
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except FileNotFoundError:
                    continue
                if target.startswith("net:["):
                    found.add(int(target[5:-1]))
            return found - {host_ns}

        # a listener on the host's loopback that no step may reach
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        self.addCleanup(lsock.close)
        port = lsock.getsockname()[1]
        probe = ("import os, socket, sys, time\n"
                 "print(os.stat('/proc/self/ns/net').st_ino)\n"
                 "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n"
                 "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
                 "c = socket.create_connection(l.getsockname(), timeout=5); print('lo ok')\n"
                 "try:\n"
                 "    socket.create_connection(('127.0.0.1', %d), timeout=2); print('host reached')\n"
                 "except OSError as e:\n"
                 "    print('host refused')\n"
                 "sys.stdout.flush(); time.sleep(60)\n" % port)

        def start(c):
            """Start the probe; its namespace and report, while it runs (a
            namespace's inode number is unique only while it lives)."""
            req = c.request({"type": "run", "project": "demo", "argv": [PY, "-c", probe]})
            out = b""
            while out.count(b"\n") < 4:
                ev = c.recv()
                self.assertIsNotNone(ev, out)
                self.assertNotEqual(ev["type"], "exit", ev)
                if ev["type"] == "accepted":
                    self.assertEqual(ev["req"], req, ev)
                    step = ev["step"]
                elif ev["type"] == "output":
                    out += base64.b64decode(ev["data"])
            lines = out.decode().split("\n")
            return step, int(lines[0]), lines[1:4]

        self.assertTrue(wait_until(lambda: len(spares()) == 4, timeout=10), spares())
        before = spares()
        with self.d.connect() as c1, self.d.connect() as c2:
            step1, ns1, report1 = start(c1)
            step2, ns2, report2 = start(c2)
            # each made ahead by the daemon, then given to its step only
            # (the daemon keeps its fd, to take it back after the step):
            # two live steps never share
            self.assertIn(ns1, before)
            self.assertNotEqual(ns1, ns2)
            self.assertNotIn(host_ns, (ns1, ns2))
            # what network "none" promises: lo only, up; the host unreachable
            for report in (report1, report2):
                self.assertEqual(report, ["['lo']", "lo ok", "host refused"])
            c1.request({"type": "cancel", "step": step1})
            c2.request({"type": "cancel", "step": step2})
        # the daemon keeps its spares and nothing else, step after step:
        # the new ones, and those that steps handed back unused (NetnsReuseTest)
        with self.d.connect() as c:
            for _ in range(20):
                self.assertExited(c.run(argv=["/bin/true"]))
            self.assertTrue(wait_until(lambda: len(spares()) >= 4, timeout=10), spares())
            time.sleep(0.2)
            self.assertEqual(len(spares()), netns_counters(c)["ready"])
            self.assertLessEqual(len(spares()), 4 + 16)

    def test_step_init_holds_nothing_of_other_steps(self):
        """A step's init used to be a copy of the whole daemon: every other
        step's request in its memory. Now it gets its own plan and no heap."""
        pid = self.d.proc.pid
        marker = ("MARKER-%s" % os.urandom(8).hex()).encode()
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" in f.read():
                self.skipTest("AddressSanitizer allocates outside the brk heap")

        def memory_has(p, needle):
            """Search every readable mapping of process p (we are root)."""
            with open("/proc/%d/maps" % p) as maps, open("/proc/%d/mem" % p, "rb", 0) as mem:
                for line in maps:
                    fields = line.split()
                    if "r" not in fields[1] or (len(fields) > 5 and fields[5] in
                                                ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                        continue
                    lo, hi = (int(x, 16) for x in fields[0].split("-"))
                    try:
                        if needle in os.pread(mem.fileno(), hi - lo, lo):
                            return True
                    except OSError:
                        pass
            return False

        def init_of(payload_argv0):
            """The init (a child of the daemon) whose payload runs argv0."""
            for child in open("/proc/%d/task/%d/children" % (pid, pid)).read().split():
                for g in open("/proc/%s/task/%s/children" % (child, child)).read().split():
                    try:
                        argv0 = open("/proc/%s/cmdline" % g, "rb").read().split(b"\0")[0]
                    except FileNotFoundError:
                        continue
                    if argv0 == payload_argv0:
                        return int(child)
            return None

        def started(c, argv):
            req = c.request({"type": "run", "project": "demo", "argv": argv})
            while True:
                ev = c.recv()
                self.assertIsNotNone(ev)
                if ev["type"] == "accepted":
                    self.assertEqual(ev["req"], req, ev)
                    step = ev["step"]
                if ev["type"] == "started":
                    return step
                self.assertNotEqual(ev["type"], "exit", ev)

        with self.d.connect() as a, self.d.connect() as b:
            # two commands: a shell that execs a lone one (bash) stays /bin/sh
            step_a = started(a, ["/bin/sh", "-c", "sleep 30; : " + marker.decode()])
            step_b = started(b, ["/bin/sleep", "30"])
            try:
                self.assertTrue(wait_until(lambda: init_of(b"/bin/sleep") is not None,
                                           timeout=5))
                init_b = init_of(b"/bin/sleep")
                init_a = init_of(b"/bin/sh")
                self.assertIsNotNone(init_a)
                # the search works: the daemon holds A's request, and so
                # does A's own init (its frozen plan)
                self.assertTrue(memory_has(pid, marker))
                self.assertTrue(memory_has(init_a, marker))
                # B's init has none of it, and no heap at all
                self.assertFalse(memory_has(init_b, marker))
                with open("/proc/%d/maps" % init_b) as f:
                    self.assertNotIn("[heap]", f.read())
                with open("/proc/%d/maps" % pid) as f:
                    self.assertIn("[heap]", f.read())
            finally:
                a.request({"type": "cancel", "step": step_a})
                b.request({"type": "cancel", "step": step_b})

    def test_exit_after_all_output(self):
        # A burst on both streams right before the process exits: every byte
        # must be sent before exit (the pipes are drained to EOF first).
        script = ("head -c 3000000 /dev/zero; for i in $(seq 1 2000); do echo line-$i; done; "
                  "head -c 500000 /dev/zero >&2; echo end >&2")
        with self.d.connect() as c:
            run = c.run(argv=["/bin/sh", "-c", script])
        self.assertExited(run)
        self.assertEqual(len(run.stdout), 3000000 + sum(len("line-%d\n" % i) for i in range(1, 2001)))
        self.assertTrue(run.stdout.endswith(b"line-2000\n"), run.stdout[-40:])
        self.assertTrue(run.stderr.endswith(b"\0end\n"))
        self.assertEqual(run.events[-1]["type"], "exit")
        self.assertEqual(run.result["output_bytes"], len(run.output))

    def test_script_and_stdin(self):
        data = bytes(range(256)) * 3
        with self.d.connect() as c:
            run = c.run(script="cat; echo; echo \"$0\"", interpreter="/bin/sh",
                        stdin=base64.b64encode(data).decode())
        self.assertExited(run)
        self.assertTrue(run.stdout.startswith(data))
        self.assertTrue(run.stdout.endswith(b"/.stepd-script\n"), run.stdout[-40:])

    def test_half_closed_client_gets_its_events(self):
        # like `socat` with a request on stdin: send, shut the sending side,
        # read to the end
        c = self.d.connect(hello=False)
        c.send_raw(frame({"type": "hello", "version": 1}) +
                   frame({"type": "run", "req": 1, "project": "demo",
                          "argv": ["/bin/sh", "-c", "sleep 0.3; echo half"]}))
        c.sock.shutdown(socket.SHUT_WR)
        evs = []
        while True:
            ev = c.recv()
            if ev is None:
                break
            evs.append(ev)
        c.close()
        self.assertEqual([e["type"] for e in evs][:2], ["hello", "accepted"])
        self.assertEqual(evs[-1]["type"], "exit")  # then the server closed
        self.assertEqual(evs[-1]["result"]["reason"], "exited")
        out = b"".join(base64.b64decode(e["data"]) for e in evs if e["type"] == "output")
        self.assertEqual(out, b"half\n")

    def test_status_list_result(self):
        with self.d.connect() as c:
            run = c.run(argv=["/bin/true"])
            st = c.call({"type": "status"})
            self.assertEqual(st["type"], "status")
            self.assertEqual(st["running"], 0)
            lst = c.call({"type": "list"})
            ids = [s["step"] for s in lst["steps"]]
            self.assertIn(run.step, ids)
            res = c.call({"type": "result", "step": run.step})
            self.assertEqual(res["result"]["reason"], "exited")
            err = c.call({"type": "result", "step": "nosuchstep"})
            self.assertEqual(err["code"], "no-such-step")
            m = c.call({"type": "metrics"})
            self.assertEqual(m["type"], "metrics")
            self.assertIn("stepd_steps_started_total 1\n", m["text"])
            self.assertIn('stepd_steps_ended_total{reason="exited"} 1\n', m["text"])
            self.assertIn('stepd_requests_rejected_total{cause="no-such-step"} 1\n', m["text"])

    def test_idempotency_key(self):
        with self.d.connect() as c:
            r1 = c.run(argv=["/bin/sh", "-c", "echo once"], idempotency_key="k-1")
            r2 = c.run(argv=["/bin/sh", "-c", "echo once"], idempotency_key="k-1")
        self.assertExited(r1)
        self.assertTrue(r2.accepted["existing"])
        self.assertEqual(r1.step, r2.step)
        self.assertEqual(r2.stdout, b"once\n")  # replayed from the log
        steps = os.listdir(os.path.join(self.d.state, "steps"))
        self.assertEqual(len(steps), 1)


def netns_counters(c):
    """The netns pool's counters, from the daemon's metrics."""
    text = c.call({"type": "metrics"})["text"]
    out = {}
    for line in text.splitlines():
        if line.startswith("stepd_spares_") and '{kind="netns"}' in line:
            name, value = line.split('{kind="netns"} ')
            out[name[len("stepd_spares_"):]] = int(value)
    return out


class NetnsReuseTest(DaemonTest):
    conf = {"projects": {"alpha": {}, "beta": {}}}

    # what a step reports of its network namespace at its start: its inode,
    # every lo counter, the sockets in use in it (sockstat: "sockets: used",
    # then per protocol inuse, and TCP's TIME_WAIT; "orphan" counts the
    # whole host), the IPv6 flow labels
    NET_REPORT = ("import os, re\n"
                  "print(os.stat('/proc/self/ns/net').st_ino)\n"
                  "lo = [l for l in open('/proc/net/dev') if l.strip().startswith('lo:')]\n"
                  "print(lo[0].split(':')[1].split())\n"
                  "st = open('/proc/net/sockstat').read() + open('/proc/net/sockstat6').read()\n"
                  "print(sorted(set(re.findall(r'(?:used|inuse|tw) (\\d+)', st))))\n"
                  "print(len(open('/proc/net/ip6_flowlabel').readlines()) - 1)\n")
    USE_NETWORK = ("import socket\n"
                   "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
                   "c = socket.create_connection(l.getsockname()); a, _ = l.accept()\n"
                   "c.sendall(b'secret'); a.recv(6); c.close(); a.close(); l.close()\n")

    def report(self, c, project):
        """Run NET_REPORT in a step of project: the namespace's inode, after
        checking it looks new."""
        run = c.run(project=project, argv=[PY, "-c", self.NET_REPORT])
        self.assertExited(run)
        ino, lo, sockets, labels = run.stdout.decode().splitlines()
        self.assertEqual(lo, repr(["0"] * 16), run.stdout)
        self.assertEqual(sockets, "['0']", run.stdout)
        self.assertEqual(labels, "0", run.stdout)
        return int(ino)

    def wait_counter(self, c, name, above):
        self.assertTrue(wait_until(lambda: netns_counters(c)[name] > above, timeout=10),
                        netns_counters(c))

    def test_unused_namespace_serves_the_same_project_only(self):
        with self.d.connect() as c:
            # a namespace the worker made only just now may still count the
            # sockets it used (RCU frees them a little later): then it is
            # rightly closed, and the next step's is kept
            for _ in range(3):
                kept = netns_counters(c)["recycled_total"]
                ino = self.report(c, "alpha")
                if wait_until(lambda: netns_counters(c)["recycled_total"] > kept, timeout=5):
                    break
            else:
                self.fail("no namespace kept: %r" % netns_counters(c))
            # kept for alpha, alive in the pool (so its inode is its own):
            # beta gets another, alpha's next step gets it back
            self.assertNotEqual(self.report(c, "beta"), ino)
            self.assertEqual(self.report(c, "alpha"), ino)

    def test_used_namespace_never_serves_again(self):
        """No later step sees a packet, socket or label of an earlier one."""
        with self.d.connect() as c:
            for _ in range(3):
                used = netns_counters(c)["discarded_total"]
                self.assertExited(c.run(project="alpha", argv=[PY, "-c", self.USE_NETWORK]))
                # the worker has looked at it before the next step starts
                self.wait_counter(c, "discarded_total", used)
                for _ in range(2):
                    self.report(c, "alpha")


class NoNetnsReuseTest(DaemonTest):
    conf = {"reuse_network_namespaces": False}

    def test_network_namespaces_not_reused_when_switched_off(self):
        with self.d.connect() as c:
            for _ in range(4):
                self.assertExited(c.run(argv=["/bin/true"]))
            time.sleep(0.3)
            counters = netns_counters(c)
        self.assertGreaterEqual(counters["taken_total"], 1, counters)
        self.assertEqual(counters["recycled_total"], 0, counters)
        self.assertEqual(counters["discarded_total"], 0, counters)


class ConcurrencyTest(DaemonTest):
    args = ("--capacity", "8")

    def test_concurrent_clients(self):
        errors = []

        def worker(i):
            try:
                with self.d.connect() as c:
                    for j in range(5):
                        tag = "client-%d-step-%d" % (i, j)
                        run = c.run(argv=["/bin/sh", "-c",
                                          "echo %s; head -c 100000 /dev/zero; echo %s >&2" % (tag, tag)])
                        if run.reason != "exited" or run.result["exit_code"] != 0:
                            errors.append((tag, run.result))
                        elif run.stdout != (tag + "\n").encode() + b"\0" * 100000:
                            errors.append((tag, "stdout", len(run.stdout)))
                        elif run.stderr != (tag + "\n").encode():
                            errors.append((tag, "stderr", run.stderr))
            except Exception as e:  # noqa: BLE001
                errors.append((i, repr(e)))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [], unfinished_steps(self.d.log()))


class QueueTest(DaemonTest):
    conf = {"capacity": 1, "queue_limit": 1}

    def test_queue_full(self):
        with self.d.connect() as a, self.d.connect() as b, self.d.connect() as c:
            st = a.call({"type": "status"})
            self.assertEqual((st["capacity"], st["queue_limit"]), (1, 1))
            ra = a.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "30"]})
            self.assertEqual(ra["type"], "accepted")
            self.assertEqual(ra["queue_position"], 0)
            rb = b.call({"type": "run", "project": "demo", "argv": ["/bin/sh", "-c", "echo second"]})
            self.assertEqual(rb["type"], "accepted")
            self.assertEqual(rb["queue_position"], 1)
            rc = c.call({"type": "run", "project": "demo", "argv": ["/bin/true"]})
            self.assertEqual(rc["type"], "error")
            self.assertEqual(rc["code"], "queue-full")
            # refused, not dropped: nothing recorded for it, the connection works
            self.assertEqual(len(os.listdir(os.path.join(self.d.state, "steps"))), 2)
            self.assertEqual(c.call({"type": "status"})["queued"], 1)
            nf = c.call({"type": "result", "step": ra["step"]})
            self.assertEqual(nf["code"], "not-finished")
            # cancelling the running one starts the queued one
            cc = c.call({"type": "cancel", "step": ra["step"]})
            self.assertEqual(cc["type"], "cancelling")
            run_a = collect(a, ra["step"])
            self.assertEqual(run_a.reason, "cancelled")
            run_b = collect(b, rb["step"])
            self.assertEqual(run_b.reason, "exited")
            self.assertEqual(run_b.stdout, b"second\n")

    def test_drain_rejects_queued(self):
        with self.d.connect() as a:
            ra = a.call({"type": "run", "project": "demo", "argv": ["/bin/sh", "-c", "sleep 1; echo a"]})
            rb = a.call({"type": "run", "project": "demo", "argv": ["/bin/sh", "-c", "echo b"]})
            self.assertEqual(rb["queue_position"], 1)
            os.kill(self.d.proc.pid, signal.SIGTERM)
            run_b = collect(a, rb["step"])
            run_a = collect(a, ra["step"])
        self.assertEqual(run_b.reason, "rejected")  # never started: safe to send elsewhere
        self.assertEqual(run_b.stdout, b"")
        self.assertEqual(run_a.reason, "exited")
        self.assertEqual(run_a.stdout, b"a\n")
        self.assertEqual(self.d.proc.wait(timeout=20), 0)

    def test_cancel_queued(self):
        with self.d.connect() as a:
            ra = a.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "30"]})
            rb = a.call({"type": "run", "project": "demo", "argv": ["/bin/true"]})
            self.assertEqual(rb["queue_position"], 1)
            self.assertEqual(a.call({"type": "cancel", "step": rb["step"]})["type"], "cancelling")
            run_b = collect(a, rb["step"])
            self.assertEqual(run_b.reason, "cancelled")
            self.assertEqual(run_b.result["exit_code"], -1)
            self.assertNotIn("started", [e["type"] for e in run_b.events])
            a.call({"type": "cancel", "step": ra["step"]})
            self.assertEqual(collect(a, ra["step"]).reason, "cancelled")


class KillTest(DaemonTest):
    def test_timeout(self):
        t0 = time.time()
        with self.d.connect() as c:
            run = c.run(argv=["/bin/sleep", "30"], timeout_ms=700)
        wall = time.time() - t0
        self.assertEqual(run.reason, "timeout", run.result)
        self.assertGreaterEqual(run.result["wall_ms"], 600)
        self.assertLess(wall, 10)

    def test_timeout_of_a_step_that_ignores_sigterm(self):
        # SIG_IGN is inherited: neither sh nor sleep die of SIGTERM; the kill
        # after the grace period (2 s by default) ends them
        marker = "1003.%d" % os.getpid()
        t0 = time.time()
        with self.d.connect() as c:
            run = c.run(argv=["/bin/sh", "-c", "trap '' TERM; sleep %s; echo survived" % marker],
                        timeout_ms=300)
        wall = time.time() - t0
        self.assertEqual(run.reason, "timeout", run.result)
        self.assertNotIn(b"survived", run.stdout)
        self.assertGreater(wall, 1.5)
        self.assertLess(wall, 8)
        self.assertEqual(processes_with("sleep\0" + marker), [])

    def test_cancel_kills_everything(self):
        marker = "1000.%d" % os.getpid()
        with self.d.connect() as c:
            req = c.request({"type": "run", "project": "demo",
                             "argv": ["/bin/sh", "-c", "sleep %s & sleep %s; echo never" % (marker, marker)]})
            acc = c.recv()
            self.assertEqual(acc["type"], "accepted", acc)
            self.assertTrue(wait_until(lambda: len(processes_with("sleep\0" + marker)) >= 2),
                            self.d.log()[-6000:])
            with self.d.connect() as other:
                r = other.call({"type": "cancel", "step": acc["step"]})
                self.assertEqual(r["type"], "cancelling")
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "cancelled")
        self.assertNotIn(b"never", run.stdout)
        self.assertEqual(processes_with("sleep\0" + marker), [])
        self.assertGreater(req, 0)

    def test_cancel_on_disconnect(self):
        marker = "1001.%d" % os.getpid()
        c = self.d.connect()
        acc = c.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", marker],
                      "cancel_on_disconnect": True})
        self.assertTrue(wait_until(lambda: processes_with("sleep\0" + marker)))
        c.close()
        with self.d.connect() as o:
            res = wait_until(lambda: o.call({"type": "result", "step": acc["step"]}).get("result"),
                             timeout=15)
        self.assertEqual(res["reason"], "cancelled")
        self.assertEqual(processes_with("sleep\0" + marker), [])


class PassedPipesTest(unittest.TestCase):
    """A step hands its stdout/stderr to a process outside it (over a unix
    socket in a shared folder) and exits: the step still ends at once."""

    def test_exit_does_not_wait_for_pipes_held_outside(self):
        tmp = tempfile.mkdtemp(prefix="stepd-pipes-")
        shared = os.path.join(tmp, "shared")
        os.makedirs(shared)
        os.chmod(tmp, 0o711)
        os.chmod(shared, 0o777)
        conf = os.path.join(tmp, "conf")
        os.makedirs(os.path.join(conf, "projects.d"))
        with open(os.path.join(conf, "projects.d", "demo.json"), "w") as f:
            json.dump({"mounts": [{"source": shared, "target": "/shared", "writable": True}]},
                      f)
        d = Daemon(tmp=tmp)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(os.path.join(shared, "fds.sock"))
        os.chmod(os.path.join(shared, "fds.sock"), 0o777)
        srv.listen(1)
        held = []

        def hold():  # the outside process: takes the step's pipe ends and keeps them
            conn, _ = srv.accept()
            _, fds, _, _ = socket.recv_fds(conn, 1, 4)
            held.extend(fds)
            conn.close()

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        try:
            with d.connect() as c:
                t0 = time.monotonic()
                run = c.run(argv=["/usr/bin/python3", "-c",
                                  "import socket; s=socket.socket(socket.AF_UNIX); "
                                  "s.connect('/shared/fds.sock'); "
                                  "socket.send_fds(s, [b'x'], [1, 2]); print('sent')"])
                elapsed = time.monotonic() - t0
        finally:
            holder.join(timeout=10)
            for fd in held:
                os.close(fd)
            srv.close()
            rc = d.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(rc, 0)
        self.assertEqual(len(held), 2)
        self.assertEqual(run.reason, "exited", run.events[-3:])
        self.assertEqual(run.stdout, b"sent\n")
        self.assertLess(elapsed, 10)


class OutputTest(DaemonTest):
    def test_disconnect_and_reattach_binary_4mib(self):
        c = self.d.connect()
        acc = c.call({"type": "run", "project": "demo", "argv": [PY, "-c", "import time; time.sleep(0.3); " + WRITE_4M]})
        self.assertEqual(acc["type"], "accepted")
        c.close()  # the step goes on without us
        with self.d.connect() as o:
            res = wait_until(lambda: o.call({"type": "result", "step": acc["step"]}).get("result"),
                             timeout=60)
            self.assertEqual(res["reason"], "exited", res)
            att = o.call({"type": "attach", "step": acc["step"], "offset": 0})
            self.assertEqual(att["type"], "attached")
            self.assertEqual(att["state"], "done")
            self.assertEqual(att["output_bytes"], len(ALL_BYTES_4M))
            run = collect(o, acc["step"])
        self.assertTrue(run.offsets_ok)
        self.assertEqual(len(run.stdout), len(ALL_BYTES_4M))
        self.assertEqual(hashlib.sha256(run.stdout).hexdigest(),
                         hashlib.sha256(ALL_BYTES_4M).hexdigest())
        self.assertEqual(run.result["output_bytes"], len(ALL_BYTES_4M))

    def test_reattach_while_running_then_live(self):
        script = "echo first; sleep 1; echo second"
        c = self.d.connect()
        acc = c.call({"type": "run", "project": "demo", "argv": ["/bin/sh", "-c", script]})
        first = None
        while first is None:
            ev = c.recv()
            if ev["type"] == "output":
                first = base64.b64decode(ev["data"])
        self.assertEqual(first, b"first\n")
        c.close()
        with self.d.connect() as o:
            att = o.call({"type": "attach", "step": acc["step"], "offset": 0})
            self.assertEqual(att["state"], "running")
            run = collect(o, acc["step"])
        self.assertEqual(run.stdout, b"first\nsecond\n")
        self.assertEqual(run.reason, "exited")

    def test_attach_from_offset(self):
        with self.d.connect() as c:
            run = c.run(argv=[PY, "-c", WRITE_4M])
            self.assertExited(run)
            off = 1234567
            c.call({"type": "attach", "step": run.step, "offset": off})
            part = collect(c, run.step)
            outs = [e for e in part.events if e["type"] == "output"]
            self.assertEqual(outs[0]["offset"], off)
            self.assertEqual(part.stdout, ALL_BYTES_4M[off:])
            end = c.call({"type": "attach", "step": run.step, "offset": len(ALL_BYTES_4M)})
            self.assertEqual(end["type"], "attached")
            self.assertEqual(collect(c, run.step).output, b"")
            bad = c.call({"type": "attach", "step": run.step, "offset": len(ALL_BYTES_4M) + 1})
            self.assertEqual(bad["code"], "bad-request")

    def test_stderr_and_stdout_separate(self):
        with self.d.connect() as c:
            run = c.run(argv=["/bin/sh", "-c", "for i in 1 2 3; do echo o$i; echo e$i >&2; done"])
        self.assertEqual(run.stdout, b"o1\no2\no3\n")
        self.assertEqual(run.stderr, b"e1\ne2\ne3\n")
        recs = read_log_records(os.path.join(self.d.step_dir(run.step), "log"))
        self.assertEqual(b"".join(d for s, d in recs if s == 2), b"e1\ne2\ne3\n")


class SlowClientTest(DaemonTest):
    args = ("--client-buffer", "2M")

    def test_slow_client_dropped_others_complete(self):
        total = 16 * 1024 * 1024
        gen = ("import sys, time\nb = bytes(range(256)) * 256\n"
               "for i in range(256):\n    sys.stdout.buffer.write(b); sys.stdout.flush(); time.sleep(0.002)\n"
               # outlive the dropped client's linger (5 s): it must not cancel the step
               "time.sleep(6)\n")
        slow = self.d.connect()
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # cancel_on_disconnect: being dropped as slow is not a disconnect
        acc = slow.call({"type": "run", "project": "demo", "argv": [PY, "-c", gen],
                         "cancel_on_disconnect": True})
        self.assertEqual(acc["type"], "accepted")
        got = {}

        def follow():
            with self.d.connect() as fast:
                fast.call({"type": "attach", "step": acc["step"], "offset": 0})
                got["run"] = collect(fast, acc["step"])

        t = threading.Thread(target=follow)
        t.start()
        # the slow one is dropped; reading now (within the 5 s it is given
        # to take its last frames) it gets what was queued, then the error
        self.assertTrue(wait_until(lambda: "code=slow-client" in self.d.log(), timeout=30),
                        self.d.log()[-3000:])
        slow.sock.settimeout(20)
        last, received = None, 0
        while True:
            ev = slow.recv()
            if ev is None:
                break
            if ev["type"] == "output":
                received += len(base64.b64decode(ev["data"]))
            last = ev
        slow.close()
        self.assertEqual(last.get("code"), "slow-client", last.get("type"))
        self.assertLess(received, total)
        t.join(60)
        run = got["run"]
        self.assertEqual(run.reason, "exited", run.result)  # not cancelled
        self.assertEqual(len(run.stdout), total)
        self.assertEqual(run.stdout, (bytes(range(256)) * 256) * 256)
        self.assertTrue(run.offsets_ok)
        # the log on disk is complete
        recs = read_log_records(os.path.join(self.d.step_dir(acc["step"]), "log"))
        self.assertEqual(sum(len(d) for s, d in recs), total)


class HostileTest(DaemonTest):
    def still_serves(self):
        with self.d.connect() as c:
            self.assertEqual(c.call({"type": "status"})["type"], "status")

    def expect_closed_with(self, conn, code):
        ev = conn.recv()
        self.assertIsNotNone(ev, "closed without an error")
        self.assertEqual(ev["type"], "error")
        self.assertEqual(ev["code"], code, ev)
        self.assertIsNone(conn.recv(), "connection kept open")
        conn.close()
        self.still_serves()

    def test_bad_frames_close(self):
        cases = [
            (struct.pack(">I", 0), "bad-frame"),
            (frame(b"\xff\xfenot json"), "bad-frame"),
            (frame(b"[1,2]"), "bad-frame"),
            (frame(b"{\"version\":1}"), "bad-frame"),
            (frame(b"{\"type\":5}"), "bad-frame"),
            (struct.pack(">I", 1024 * 1024 + 1), "frame-too-large"),
            (struct.pack(">I", 0xFFFFFFFF) + b"xx", "frame-too-large"),
        ]
        for data, code in cases:
            with self.subTest(data=data[:12]):
                c = self.d.connect()
                c.send_raw(data)
                self.expect_closed_with(c, code)

    def test_closed_connection_really_closes_while_steps_run(self):
        # c is connected when the step starts (its sandbox is forked from
        # the daemon); closing c must still end c's connection at once
        c = self.d.connect(timeout=5)
        with self.d.connect() as r:
            acc = r.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "8"]})
            self.assertEqual(acc["type"], "accepted")
            self.assertTrue(wait_until(lambda: r.call({"type": "status"})["running"] == 1))
            time.sleep(0.3)
            c.send_raw(struct.pack(">I", 0))
            self.assertEqual(c.recv()["code"], "bad-frame")
            t0 = time.time()
            self.assertIsNone(c.recv())
            self.assertLess(time.time() - t0, 2)
            c.close()
            r.call({"type": "cancel", "step": acc["step"]})
            self.assertEqual(collect(r, acc["step"]).reason, "cancelled")

    def test_handshake_required(self):
        c = self.d.connect(hello=False)
        c.send({"type": "status"})
        self.expect_closed_with(c, "handshake-required")
        c = self.d.connect(hello=False)
        c.send({"type": "hello", "version": 0})
        self.expect_closed_with(c, "unsupported-version")

    def test_silent_connection_dropped_after_10s(self):
        c = self.d.connect(hello=False, timeout=20)
        t0 = time.time()
        ev = c.recv()
        self.assertEqual(ev["code"], "handshake-required")
        self.assertIsNone(c.recv())
        self.assertGreater(time.time() - t0, 9)
        c.close()
        self.still_serves()

    def test_truncated_frame_then_close(self):
        c = self.d.connect()
        c.send_raw(frame({"type": "status"})[:7])
        c.sock.shutdown(socket.SHUT_WR)
        self.assertIsNone(c.recv())
        c.close()
        self.still_serves()

    def test_oversized_but_valid_frame_max(self):
        # exactly 1 MiB payload is a frame (it is a bad run: unknown field)
        payload = b'{"type":"status","pad":"' + b"x" * (1024 * 1024 - 26) + b'"}'
        self.assertEqual(len(payload), 1024 * 1024)
        with self.d.connect() as c:
            c.send_raw(frame(payload))
            ev = c.recv()
            self.assertEqual(ev["code"], "unknown-field")
            self.assertEqual(c.call({"type": "status"})["type"], "status")

    def test_request_errors_keep_connection(self):
        cases = [
            ({"type": "fly"}, "unknown-type"),
            ({"type": "run", "project": "demo", "argv": ["/bin/true"], "timeout": 1}, "unknown-field"),
            ({"type": "run", "project": "demo", "argv": "/bin/true"}, "bad-request"),
            ({"type": "run", "project": "Bad Name", "argv": ["/bin/true"]}, "bad-request"),
            ({"type": "run", "project": "demo", "argv": ["/bin/true"], "stdin": "***"}, "bad-request"),
            ({"type": "attach", "step": "../../etc"}, "bad-request"),
            ({"type": "attach", "step": "0000000000-00000000"}, "no-such-step"),
            ({"type": "cancel", "step": "0000000000-00000000"}, "no-such-step"),
        ]
        with self.d.connect() as c:
            for obj, code in cases:
                with self.subTest(obj=obj):
                    r = c.call(obj)
                    self.assertEqual(r["type"], "error")
                    self.assertEqual(r["code"], code, r)
                    self.assertEqual(r["req"], c.req)
            self.assertEqual(c.call({"type": "status"})["type"], "status")

    def test_garbage_does_not_disturb_running_step(self):
        with self.d.connect() as c:
            acc = c.call({"type": "run", "project": "demo",
                          "argv": ["/bin/sh", "-c", "sleep 0.5; echo done"]})
            for data in (struct.pack(">I", 0), struct.pack(">I", 0x7FFFFFFF), b"\x00\x00"):
                g = self.d.connect(hello=False)
                g.send_raw(data)
                g.close()
            run = collect(c, acc["step"])
        self.assertEqual(run.stdout, b"done\n")

    def test_mutated_requests(self):
        """Requests with members deleted or replaced by values of every JSON
        type, raw garbage and cut frames, from many connections: the daemon
        answers or closes each, and keeps serving."""
        import random
        rnd = random.Random(1234)
        base = [{"type": "run", "project": "demo", "argv": ["/bin/echo", "x"]},
                {"type": "attach", "step": "abc", "offset": 3}, {"type": "list"},
                {"type": "status"}, {"type": "cancel", "step": "x"},
                {"type": "result", "step": "y"}, {"type": "hello", "version": 1},
                {"type": "run", "project": "demo", "script": "echo hi", "stdin": "aGk=",
                 "env": {"A": "b"}, "labels": {"a": "b"}, "timeout_ms": 1000}]
        vals = [None, True, 1, -1, 2 ** 63 - 1, -2 ** 63, 1.5, "", "x" * 300, [], {}, ["a"],
                {"a": 1}, "/", "../..", "\u00e9", "\ud83d\ude00"]

        def mutate(o):
            o = dict(o)
            for _ in range(rnd.randint(1, 3)):
                k = rnd.choice(list(o.keys()) + ["zz", "req", "offset", "timeout_ms"])
                if rnd.random() < 0.2 and k in o:
                    del o[k]
                else:
                    o[k] = rnd.choice(vals)
            return o

        for _ in range(100):
            c = self.d.connect()
            try:
                for _ in range(4):
                    r = rnd.random()
                    if r < 0.7:
                        c.send(mutate(rnd.choice(base)))
                    elif r < 0.85:
                        c.send_raw(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 40))))
                    else:
                        p = json.dumps(mutate(rnd.choice(base))).encode()
                        c.send_raw(struct.pack(">I", len(p)) + p[:rnd.randint(0, len(p))])
                c.sock.settimeout(0.1)
                for _ in range(8):
                    if c.recv() is None:
                        break
            except (OSError, socket.timeout):
                pass
            finally:
                c.close()
        self.assertIsNone(self.d.proc.poll(), self.d.log()[-3000:])
        with self.d.connect() as c:
            run = c.run(argv=["/bin/echo", "alive"])
        self.assertEqual(run.stdout, b"alive\n")
        self.assertNotIn("Sanitizer", self.d.log())

    def test_non_root_denied(self):
        owner = self.d.connect()
        acc = owner.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "30"]})
        self.assertEqual(acc["type"], "accepted")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = "child-error"
            try:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                with Conn(self.d.sock) as c:
                    others = []
                    for req in ({"type": "cancel", "step": acc["step"]},
                                {"type": "attach", "step": acc["step"]},
                                {"type": "result", "step": acc["step"]}):
                        others.append(c.call(req).get("code"))
                    lst = c.call({"type": "list"})
                    others.append(str(len(lst["steps"])))
                    rep = c.call({"type": "run", "project": "demo", "argv": ["/bin/true"]})
                    code = "%s:%s:%s:%s" % (",".join(others), rep.get("type"), rep.get("code"),
                                            rep.get("message"))
            except Exception as e:  # noqa: BLE001
                code = "exception:" + repr(e)
            os.write(w, code.encode())
            os._exit(0)
        os.close(w)
        got = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            got += chunk
        os.close(r)
        os.waitpid(pid, 0)
        others, kind, code, message = got.decode().split(":", 3)
        # another uid may not cancel, attach to or see root's step
        self.assertEqual(others, "permission-denied,permission-denied,permission-denied,0", got)
        self.assertEqual((kind, code), ("error", "permission-denied"), got)
        self.assertIn("65534", message)
        self.assertEqual(os.listdir(os.path.join(self.d.state, "steps")), [acc["step"]])
        # the step was not disturbed
        owner.call({"type": "cancel", "step": acc["step"]})
        self.assertEqual(collect(owner, acc["step"]).reason, "cancelled")
        owner.close()


class ConnectionCapTest(DaemonTest):
    args = ("--max-connections", "3")

    def test_per_uid_connection_cap(self):
        conns = [self.d.connect() for _ in range(3)]
        extra = self.d.connect(hello=False)
        ev = extra.recv()
        self.assertEqual(ev["code"], "too-many-connections", ev)
        self.assertIsNone(extra.recv())
        extra.close()
        for c in conns:  # the others are unaffected
            self.assertEqual(c.call({"type": "status"})["type"], "status")
        conns.pop().close()
        self.assertTrue(wait_until(lambda: self._can_connect()))
        for c in conns:
            c.close()

    def _can_connect(self):
        try:
            with self.d.connect() as c:
                return c.call({"type": "status"})["type"] == "status"
        except (AssertionError, OSError):
            return False


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d:
            rc = self.d.stop()
            log = self.d.log()
            shutil.rmtree(self.d.tmp, ignore_errors=True)
            self.assertIn(rc, (0, None), log[-6000:])
            assert_clean_log(self, log)

    def test_restart_after_sigkill_records_lost(self):
        marker = "1002.%d" % os.getpid()
        self.d = Daemon()
        c = self.d.connect()
        acc = c.call({"type": "run", "project": "demo",
                      "argv": ["/bin/sh", "-c", "echo before; sleep %s" % marker]})
        self.assertTrue(wait_until(lambda: processes_with("sleep\0" + marker)), self.d.log()[-6000:])
        self.d.kill(signal.SIGKILL)
        c.close()
        self.assertFalse(os.path.exists(os.path.join(self.d.step_dir(acc["step"]), "result.json")))
        self.d.start()
        try:
            o = self.d.connect()
        except AssertionError:
            self.fail("no hello after the restart:\n" + self.d.log()[-6000:])
        with o:
            res = o.call({"type": "result", "step": acc["step"]})
            self.assertEqual(res["type"], "result", res)
            self.assertEqual(res["result"]["reason"], "lost")
            self.assertIn("event=audit step=%s " % acc["step"], self.d.log())
            o.call({"type": "attach", "step": acc["step"]})
            run = collect(o, acc["step"])
            self.assertEqual(run.stdout, b"before\n")
        self.assertTrue(wait_until(lambda: processes_with("sleep\0" + marker) == [], timeout=10),
                        "processes of the lost step remain")
        self.assertFalse(os.path.exists(os.path.join(self.d.state, "work", "demo", acc["step"])))

    def test_many_records_are_found_after_a_restart_and_expire(self):
        # More steps than the id index starts with (256): it grows while they
        # run, is rebuilt from the records at the restart, and loses the
        # expired ones when the restart prunes them.
        self.d = Daemon(conf={"capacity": 8, "queue_limit": 1024})
        ids = []
        with self.d.connect() as c:
            reqs = [c.request({"type": "run", "project": "demo", "argv": ["/bin/true"]})
                    for _ in range(300)]
            exits = set()
            while len(exits) < len(reqs):
                ev = c.recv()
                self.assertIsNotNone(ev, self.d.log()[-3000:])
                if ev["type"] == "accepted":
                    ids.append(ev["step"])
                elif ev["type"] == "exit":
                    exits.add(ev["step"])
                elif ev["type"] == "error":
                    self.fail(ev)
            self.assertEqual(set(ids), exits)
            self.assertEqual(len(set(ids)), 300)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        with self.d.connect() as c:
            for sid in ids:
                res = c.call({"type": "result", "step": sid})
                self.assertEqual(res["type"], "result", res)
                self.assertEqual(res["step"], sid)
            fresh = c.run(argv=["/bin/true"])
        self.assertEqual(self.d.stop(), 0)
        with open(os.path.join(self.d.conf, "stepd.json"), "w") as f:
            json.dump({"retention": "1s"}, f)
        time.sleep(1.2)
        self.d.start()  # prunes what ended more than 1 s ago, at start
        with self.d.connect() as c:
            for sid in ids[:5] + ids[-5:] + [fresh.step]:
                res = c.call({"type": "result", "step": sid})
                self.assertEqual((res["type"], res["code"]), ("error", "no-such-step"), res)
                self.assertFalse(os.path.exists(self.d.step_dir(sid)))
            again = c.run(argv=["/bin/true"])
            self.assertEqual(c.call({"type": "result", "step": again.step})["type"], "result")
        self.assertIn("event=pruned steps=301", self.d.log())
        self.d.stop()

    def test_drain_lets_running_steps_finish(self):
        self.d = Daemon(args=("--drain-grace", "20s"))
        with self.d.connect() as c, self.d.connect() as other:
            acc = c.call({"type": "run", "project": "demo",
                          "argv": ["/bin/sh", "-c", "sleep 1; echo finished"]})
            wait_until(lambda: False, timeout=0.2)
            cgroups = step_cgroups(self.d.proc.pid, acc["step"])
            os.kill(self.d.proc.pid, signal.SIGTERM)
            self.assertTrue(wait_until(lambda: "event=draining" in self.d.log()))
            refused = other.call({"type": "run", "project": "demo", "argv": ["/bin/true"]})
            self.assertEqual(refused["code"], "draining")
            self.assertTrue(other.call({"type": "status"})["draining"])
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "exited")
        self.assertEqual(run.stdout, b"finished\n")
        self.assertEqual(self.d.proc.wait(timeout=20), 0)
        self.assertFalse(os.path.exists(self.d.sock))
        # The loop ends as the last step ends (its init's report), maybe
        # before that init has exited: the stop still removes its working
        # folder and cgroup.
        self.assertFalse(os.path.exists(os.path.join(self.d.state, "work", "demo", acc["step"])))
        self.assertTrue(cgroups)
        for path in cgroups:
            self.assertFalse(os.path.exists(path), path)

    def test_drain_grace_cancels(self):
        self.d = Daemon(args=("--drain-grace", "500ms"))
        with self.d.connect() as c:
            acc = c.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "60"]})
            time.sleep(0.3)
            os.kill(self.d.proc.pid, signal.SIGTERM)
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "cancelled")
        self.assertEqual(self.d.proc.wait(timeout=20), 0)

    def test_reload_keeps_running_steps_config(self):
        self.d = Daemon(conf={"default_timeout": "2s"})
        with self.d.connect() as c:
            acc = c.call({"type": "run", "project": "demo", "argv": ["/bin/sleep", "20"]})
            self.assertEqual(acc["type"], "accepted")
            with open(os.path.join(self.d.conf, "stepd.json"), "w") as f:
                json.dump({"default_timeout": "1h"}, f)
            os.kill(self.d.proc.pid, signal.SIGHUP)
            self.assertTrue(wait_until(lambda: "event=reloaded" in self.d.log()))
            run = collect(c, acc["step"])
            # resolved under the old configuration: its 2 s timeout stays
            self.assertEqual(run.reason, "timeout", run.result)
            self.assertLess(run.result["wall_ms"], 10000)

    def test_reload(self):
        self.d = Daemon(conf={"capacity": 2})
        with self.d.connect() as c:
            self.assertEqual(c.call({"type": "status"})["capacity"], 2)
            with open(os.path.join(self.d.conf, "stepd.json"), "w") as f:
                json.dump({"capacity": 3}, f)
            os.kill(self.d.proc.pid, signal.SIGHUP)
            self.assertTrue(wait_until(lambda: c.call({"type": "status"})["capacity"] == 3))
            with open(os.path.join(self.d.conf, "stepd.json"), "w") as f:
                f.write("{ broken")
            os.kill(self.d.proc.pid, signal.SIGHUP)
            self.assertTrue(wait_until(lambda: "reload-failed" in self.d.log()))
            self.assertEqual(c.call({"type": "status"})["capacity"], 3)
            r = c.call({"type": "reload"})
            self.assertEqual(r["code"], "bad-config")
            self.assertIn("stepd.json", r["message"])
            self.assertEqual(c.run(argv=["/bin/true"]).reason, "exited")

    def test_sd_notify(self):
        tmp = Daemon(start=False)
        path = os.path.join(tmp.tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(20)
        self.d = Daemon(tmp=tmp.tmp, start=False, env=dict(os.environ, NOTIFY_SOCKET=path))
        self.d.start()
        msgs = []
        while not any("READY=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        os.kill(self.d.proc.pid, signal.SIGHUP)
        while not any("RELOADING=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        os.kill(self.d.proc.pid, signal.SIGTERM)
        while not any("STOPPING=1" in m for m in msgs):
            msgs.append(ns.recv(4096).decode())
        self.assertEqual(self.d.proc.wait(timeout=20), 0)
        ns.close()

    def test_socket_activation(self):
        tool = shutil.which("systemd-socket-activate")
        if not tool:
            self.skipTest("systemd-socket-activate is not installed")
        self.d = Daemon(start=False)
        path = os.path.join(self.d.tmp, "activated.sock")
        cmd = [tool, "-l", path] + self.d.command()
        self.d.start(command=cmd, wait_path=path)
        with Conn(path) as c:
            run = c.run(argv=["/bin/sh", "-c", "echo activated"])
            self.assertEqual(run.stdout, b"activated\n")
        self.assertIn("source=systemd", self.d.log())
        self.assertFalse(os.path.exists(self.d.sock))


    def test_socket_activation_refuses_a_datagram_socket(self):
        tool = shutil.which("systemd-socket-activate")
        if not tool:
            self.skipTest("systemd-socket-activate is not installed")
        self.d = Daemon(start=False)
        path = os.path.join(self.d.tmp, "activated.sock")
        cmd = [tool, "--datagram", "-l", path] + self.d.command()
        with open(self.d.log_path, "ab") as logf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        try:
            # a datagram socket is handed over on its first datagram
            self.assertTrue(wait_until(lambda: os.path.exists(path)))
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(b"hello", path)
            self.assertNotEqual(proc.wait(timeout=20), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertIn("fd 3 passed by systemd is not a listening Unix stream socket",
                      self.d.log())
        self.assertFalse(os.path.exists(self.d.sock))
        shutil.rmtree(self.d.tmp, ignore_errors=True)
        self.d = None

    def test_sd_notify_abstract_socket(self):
        name = "stepd-test-notify-%d" % os.getpid()
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind("\0" + name)
        ns.settimeout(20)
        self.d = Daemon(start=False, env=dict(os.environ, NOTIFY_SOCKET="@" + name))
        self.d.start()
        msg = ns.recv(4096).decode()
        self.assertIn("READY=1", msg)
        self.assertIn("STATUS=running", msg)
        ns.close()

if __name__ == "__main__":
    unittest.main(verbosity=2)
