# SPDX-License-Identifier: MIT
"""Remote agents over mutual TLS (docs/agents.md), with the real binaries:
supervisors (`stepd daemon`) and agents (`stepd agent`) on 127.0.0.1, and one
pair in network namespaces this test makes itself (both ends of the veth
inside them). Certificates are made at test time with `stepd
new-certificate`."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
from harness import (Conn, Daemon, collect, processes_with, read_log_records,  # noqa: E402
                     wait_until)

STEPD = os.environ.get("STEPD", "stepd")
STEPCTL = os.environ.get("STEPCTL", "stepctl")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Ident:
    """A key and certificate made with `stepd new-certificate`."""

    def __init__(self, folder, name):
        self.cert = os.path.join(folder, name + ".crt")
        self.key = os.path.join(folder, name + ".key")
        out = subprocess.run([STEPD, "new-certificate", "--cert", self.cert, "--key", self.key,
                              "--name", name], check=True, capture_output=True, text=True)
        self.thumbprint = out.stdout.strip()
        assert self.thumbprint.startswith("sha256:") and len(self.thumbprint) == 71

    @property
    def hex(self):
        return self.thumbprint[7:]


class Node(Daemon):
    """A stepd daemon or agent; netns: run it in that network namespace."""

    def __init__(self, verb="daemon", netns=None, **kw):
        self.verb = verb
        self.netns = netns
        super().__init__(**kw)

    def command(self):
        cmd = super().command()
        cmd[1] = self.verb
        if self.netns:  # only the network namespace: keep the host's mounts
            cmd = ["nsenter", "--net=/run/netns/" + self.netns] + cmd
        return cmd


def agent_conf(ident, listen, trusted, capacity=4, queue_limit=16, labels=None):
    conf = {"capacity": capacity, "queue_limit": queue_limit,
            "agent": {"listen": listen, "certificate": ident.cert, "key": ident.key,
                      "trusted": trusted}}
    if labels:
        conf["agent"]["labels"] = labels
    return conf


def supervisor_conf(ident, agents, members, interval="300ms", capacity=4):
    """agents: {name: (address, thumbprint, labels)}; members: the remote pool."""
    return {
        "capacity": capacity,
        "tls": {"certificate": ident.cert, "key": ident.key},
        "health_interval": interval,
        "agents": {n: dict({"address": a, "thumbprint": t}, **({"labels": l} if l else {}))
                   for n, (a, t, l) in agents.items()},
        "pools": {"default": {"members": ["builtin"]}, "remote": {"members": members}},
        "projects": {"far": {"pool": "remote", "env_allow": ["*"]}, "near": {}},
    }


def agents_list(sup):
    with sup.connect() as c:
        r = c.call({"type": "agents"})
    assert r and r["type"] == "agents", r
    return {a["name"]: a for a in r["agents"]}


def wait_healthy(sup, name, healthy=True, timeout=15):
    return wait_until(lambda: agents_list(sup)[name]["healthy"] == healthy, timeout=timeout)


def agent_steps(agent):
    d = os.path.join(agent.state, "steps")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class SilentAgent:
    """A TLS peer that answers hello and status like an agent but never
    answers a run: the supervisor must give up on it and go elsewhere."""

    def __init__(self, ident):
        import ssl
        import threading
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx.load_cert_chain(ident.cert, ident.key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.runs = 0
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, raw):
        import struct
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
            self.conns.append(c)
            buf = b""
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                    n = struct.unpack(">I", buf[:4])[0]
                    msg, buf = json.loads(buf[4:4 + n]), buf[4 + n:]
                    if msg["type"] == "hello":
                        out = {"type": "hello", "version": 1, "server": "silent/0"}
                    elif msg["type"] == "status":
                        out = {"type": "status", "req": msg.get("req"), "version": "silent",
                               "running": 0, "queued": 0, "capacity": 4, "queue_limit": 4,
                               "draining": False, "labels": {"os": "linux"}}
                    else:
                        self.runs += 1
                        continue
                    data = json.dumps(out).encode()
                    c.sendall(struct.pack(">I", len(data)) + data)
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class AgentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stepd-agents-test-")
        os.chmod(cls.tmp, 0o755)
        cls.sup_id = Ident(cls.tmp, "supervisor")
        cls.a1_id = Ident(cls.tmp, "agent1")
        cls.a2_id = Ident(cls.tmp, "agent2")
        cls.stranger = Ident(cls.tmp, "stranger")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.nodes = []

    def tearDown(self):
        dirty = []
        for n in reversed(self.nodes):
            n.stop()
            log = n.log()
            if any(m in log for m in ("AddressSanitizer", "LeakSanitizer", "runtime error:")):
                dirty.append(log[-6000:])
        self.assertEqual(dirty, [], "a sanitizer complained")

    def node(self, verb, conf, netns=None, args=()):
        n = Node(verb=verb, netns=netns, conf=conf, args=list(args),
                 tmp=tempfile.mkdtemp(prefix=verb + "-", dir=self.tmp))
        self.nodes.append(n)
        return n

    def agent(self, ident, trusted=None, capacity=4, queue_limit=16, labels=None, port=None):
        port = port or free_port()
        conf = agent_conf(ident, "127.0.0.1:%d" % port,
                          trusted or [self.sup_id.thumbprint], capacity, queue_limit, labels)
        a = self.node("agent", conf)
        a.address = "127.0.0.1:%d" % port
        wait_until(lambda: "event=agent-listen" in a.log(), timeout=10)
        return a

    def supervisor(self, agents, members, interval="300ms", ident=None):
        return self.node("daemon", supervisor_conf(ident or self.sup_id, agents, members,
                                                   interval))

    # -- the link ---------------------------------------------------------------

    def test_forwarded_step_streams_byte_exact(self):
        a1 = self.agent(self.a1_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None)}, ["a1"])
        self.assertTrue(wait_healthy(sup, "a1"), sup.log()[-3000:])
        # every byte value, on both streams, in many chunks, and an exit code
        script = ("printf 'start\\n'; i=0; while [ $i -lt 40 ]; do "
                  "head -c 4096 /dev/urandom > /tmp/chunk; cat /tmp/chunk; "
                  "cat /tmp/chunk >> /work/all; i=$((i+1)); done; "
                  "printf 'err\\0\\377\\n' >&2; printf 'end\\n'; "
                  "sha256sum /work/all >&2; exit 3")
        with sup.connect() as c:
            run = c.run("far", script=script, stdin=base64.b64encode(b"in").decode())
        self.assertEqual(run.reason, "exited", run.result)
        self.assertEqual(run.result["exit_code"], 3)
        self.assertTrue(run.offsets_ok)
        self.assertTrue(run.stdout.startswith(b"start\n") and run.stdout.endswith(b"end\n"))
        body = run.stdout[len(b"start\n"):-len(b"end\n")]
        self.assertEqual(len(body), 40 * 4096)
        import hashlib
        self.assertIn(hashlib.sha256(body).hexdigest().encode(), run.stderr)
        self.assertTrue(run.stderr.startswith(b"err\0\377\n"))
        # it ran on the agent, not here, and the supervisor kept log and result
        self.assertEqual(len(agent_steps(a1)), 1)
        self.assertNotIn("event=step-start", sup.log())
        recs = read_log_records(os.path.join(sup.step_dir(run.step), "log"))
        self.assertEqual(b"".join(d for s, d in recs), run.output)
        with open(os.path.join(sup.step_dir(run.step), "result.json")) as f:
            self.assertEqual(json.load(f)["result"]["exit_code"], 3)
        with sup.connect() as c:  # replay from the supervisor's own log
            self.assertEqual(c.call({"type": "attach", "step": run.step, "offset": 0})["type"],
                             "attached")
            self.assertEqual(collect(c, run.step).output, run.output)

    def test_supervisor_refuses_wrong_agent_thumbprint(self):
        a1 = self.agent(self.a1_id)
        # the supervisor pins agent2's thumbprint for a1's address
        sup = self.supervisor({"a1": (a1.address, self.a2_id.hex, None)}, ["a1"])
        ok = wait_until(lambda: "not the expected" in agents_list(sup)["a1"]["error"], 15)
        info = agents_list(sup)["a1"]
        self.assertTrue(ok, info)
        self.assertFalse(info["healthy"])
        self.assertIn(self.a1_id.thumbprint, info["error"])
        self.assertEqual(agent_steps(a1), [])

    def test_agent_refuses_unknown_supervisor(self):
        a1 = self.agent(self.a1_id, trusted=[self.stranger.thumbprint])
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None)}, ["a1"])
        ok = wait_until(lambda: "refused our certificate" in agents_list(sup)["a1"]["error"], 15)
        self.assertTrue(ok, agents_list(sup)["a1"])
        self.assertTrue(wait_until(lambda: self.sup_id.thumbprint in a1.log(), 5), a1.log())
        self.assertIn("event=agent-refused", a1.log())
        with sup.connect() as c:  # its steps wait; they never run anywhere
            req = c.request({"type": "run", "project": "far", "argv": ["/bin/true"]})
            acc = c.recv()
            self.assertEqual(acc["type"], "accepted")
            time.sleep(1.5)
            self.assertEqual(c.call({"type": "cancel", "step": acc["step"]})["type"],
                             "cancelling")
            self.assertEqual(collect(c, acc["step"]).reason, "cancelled")
        self.assertEqual(agent_steps(a1), [])

    def test_s_client_without_certificate_is_refused(self):
        a1 = self.agent(self.a1_id)
        p = subprocess.run("printf '\\000\\000\\000\\017{\"type\":\"hello\"}' | timeout 10 "
                           "openssl s_client -connect %s -tls1_3 -ign_eof" % a1.address,
                           shell=True, capture_output=True)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertIn("certificate required", out)
        self.assertNotIn('"type":"hello"', out.split("---")[-1])  # no hello came back
        self.assertTrue(wait_until(lambda: "peer sent no certificate" in a1.log(), 5), a1.log())

    def test_bad_link_settings_are_named(self):
        conf = os.path.join(self.tmp, "badconf")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "stepd.json"), "w") as f:
            json.dump({"agent": {"listen": "*:7443", "certificate": self.a1_id.cert,
                                 "key": self.a1_id.key, "trusted": ["sha256:beef"]}}, f)
        p = subprocess.run([STEPD, "check-config", "--config", conf], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("agent.trusted[0]: expected sha256:<64 hex digits>", p.stderr)
        # `stepd agent` without an "agent" object refuses to start, saying why
        n = Node(verb="agent", conf={}, start=False,
                 tmp=tempfile.mkdtemp(prefix="agent-", dir=self.tmp))
        p = subprocess.run(n.command(), capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('agent mode needs an "agent" object', p.stderr)
        # a key that does not match its certificate
        c = agent_conf(self.a1_id, "127.0.0.1:%d" % free_port(), [self.sup_id.thumbprint])
        c["agent"]["key"] = self.a2_id.key
        n = Node(verb="agent", start=False, conf=c,
                 tmp=tempfile.mkdtemp(prefix="agent-", dir=self.tmp))
        p = subprocess.run(n.command(), capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("does not match certificate", p.stderr)

    # -- members ---------------------------------------------------------------

    def test_agent_killed_mid_step_is_lost(self):
        a1 = self.agent(self.a1_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None)}, ["a1"])
        self.assertTrue(wait_healthy(sup, "a1"))
        with sup.connect() as c:
            req = c.request({"type": "run", "project": "far",
                             "script": "echo begun; sleep 59.4242"})
            acc = c.recv()
            self.assertEqual(acc["type"], "accepted", acc)
            evs = []
            while not any(e.get("type") == "output" for e in evs):
                evs.append(c.recv())
            self.assertTrue(wait_until(lambda: processes_with("59.4242"), 10))
            a1.kill(signal.SIGKILL)
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "lost", run.result)
        self.assertIn("a1", run.result["message"])
        self.assertIn("retry_safe", run.result["message"])
        # the step did not outlive its agent
        self.assertTrue(wait_until(lambda: not processes_with("59.4242"), 20))

    def test_cancel_reaches_the_agent(self):
        a1 = self.agent(self.a1_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None)}, ["a1"])
        self.assertTrue(wait_healthy(sup, "a1"))
        with sup.connect() as c:
            c.request({"type": "run", "project": "far", "script": "echo up; sleep 58.1717"})
            acc = c.recv()
            while c.recv().get("type") != "output":
                pass
            self.assertTrue(wait_until(lambda: processes_with("58.1717"), 10))
            self.assertEqual(c.call({"type": "cancel", "step": acc["step"]})["type"],
                             "cancelling")
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "cancelled", run.result)
        self.assertTrue(wait_until(lambda: not processes_with("58.1717"), 10))
        (remote,) = agent_steps(a1)
        with open(os.path.join(a1.step_dir(remote), "result.json")) as f:
            self.assertEqual(json.load(f)["result"]["reason"], "cancelled")

    def test_agent_that_never_accepts_is_left_for_another(self):
        silent = SilentAgent(self.a1_id)
        self.addCleanup(silent.close)
        a2 = self.agent(self.a2_id)
        sup = self.supervisor({"s": (silent.address, self.a1_id.hex, None),
                               "a2": (a2.address, self.a2_id.hex, None)}, ["s", "a2"],
                              interval="60s")
        self.assertTrue(wait_healthy(sup, "s") and wait_healthy(sup, "a2"))
        t0 = time.time()
        with sup.connect(timeout=90) as c:
            run = c.run("far", argv=["/bin/echo", "elsewhere"])
        self.assertEqual(run.reason, "exited", run.result)
        self.assertEqual(run.stdout, b"elsewhere\n")
        self.assertGreaterEqual(time.time() - t0, 14)
        self.assertEqual(silent.runs, 1)
        self.assertEqual(len(agent_steps(a2)), 1)
        self.assertIn("did not accept the step within 15 s", sup.log())

    def test_retry_safe_step_moves_to_another_agent(self):
        a1 = self.agent(self.a1_id)
        a2 = self.agent(self.a2_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None),
                               "a2": (a2.address, self.a2_id.hex, None)}, ["a1", "a2"])
        self.assertTrue(wait_healthy(sup, "a1") and wait_healthy(sup, "a2"))
        with sup.connect() as c:
            c.request({"type": "run", "project": "far", "retry_safe": True,
                       "script": "echo begun; sleep 3; echo done"})
            acc = c.recv()
            wait_until(lambda: agent_steps(a1) or agent_steps(a2), 10)
            first = a1 if agent_steps(a1) else a2
            other = a2 if first is a1 else a1
            time.sleep(0.5)
            first.kill(signal.SIGKILL)
            run = collect(c, acc["step"])
        self.assertEqual(run.reason, "exited", run.result)
        self.assertTrue(run.stdout.endswith(b"done\n"), run.stdout)
        self.assertEqual(len(agent_steps(other)), 1)

    def test_refusing_agent_and_another_takes_it(self):
        # a1 runs one step at a time and queues none; it is kept busy by a
        # step sent to it directly, which the supervisor (probing rarely)
        # does not know about: a1 refuses with queue-full, a2 takes the step
        a1 = self.agent(self.a1_id, capacity=1, queue_limit=0)
        a2 = self.agent(self.a2_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None),
                               "a2": (a2.address, self.a2_id.hex, None)}, ["a1", "a2"],
                              interval="60s")
        self.assertTrue(wait_healthy(sup, "a1") and wait_healthy(sup, "a2"))
        busy = a1.connect()
        busy.request({"type": "run", "project": "x", "argv": ["/bin/sleep", "30"]})
        self.assertEqual(busy.recv()["type"], "accepted")
        with sup.connect() as c:
            run = c.run("far", argv=["/bin/echo", "taken"])
        busy.close()
        self.assertEqual(run.reason, "exited", run.result)
        self.assertEqual(run.stdout, b"taken\n")
        self.assertEqual(len(agent_steps(a2)), 1)
        self.assertIn("queue-full", sup.log())

    def test_pool_without_builtin_never_runs_here(self):
        dead1, dead2 = free_port(), free_port()
        sup = self.supervisor({"a1": ("127.0.0.1:%d" % dead1, self.a1_id.hex, None),
                               "a2": ("127.0.0.1:%d" % dead2, self.a2_id.hex, None)},
                              ["a1", "a2"])
        self.assertTrue(wait_until(lambda: "cannot connect" in agents_list(sup)["a1"]["error"]))
        with sup.connect() as c:
            c.request({"type": "run", "project": "far", "argv": ["/bin/echo", "no"]})
            acc = c.recv()
            self.assertEqual(acc["type"], "accepted")
            time.sleep(2)
            self.assertEqual(c.call({"type": "status"})["queued"], 1)
            self.assertNotIn("event=step-start", sup.log())
            self.assertFalse(os.listdir(os.path.join(sup.state, "work"))
                             if os.path.isdir(os.path.join(sup.state, "work")) else [])
            c.call({"type": "cancel", "step": acc["step"]})
            self.assertEqual(collect(c, acc["step"]).reason, "cancelled")
        # the builtin pool still works on this host
        with sup.connect() as c:
            self.assertEqual(c.run("near", argv=["/bin/echo", "here"]).stdout, b"here\n")

    def test_least_loaded_member_is_chosen(self):
        a1 = self.agent(self.a1_id, capacity=4)
        a2 = self.agent(self.a2_id, capacity=4)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None),
                               "a2": (a2.address, self.a2_id.hex, None)}, ["a1", "a2"])
        busy = a1.connect()
        for _ in range(2):
            busy.request({"type": "run", "project": "x", "argv": ["/bin/sleep", "30"]})
        self.assertTrue(wait_until(lambda: agents_list(sup)["a1"]["running"] == 2, 10),
                        agents_list(sup))
        before = len(agent_steps(a1))
        with sup.connect() as c:
            run = c.run("far", argv=["/bin/echo", "light"])
        busy.close()
        self.assertEqual(run.stdout, b"light\n")
        self.assertEqual(len(agent_steps(a2)), 1)
        self.assertEqual(len(agent_steps(a1)), before)

    def test_requirements_pick_the_labelled_agent(self):
        a1 = self.agent(self.a1_id)
        a2 = self.agent(self.a2_id, labels={"xcode": "15"})
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, None),
                               "a2": (a2.address, self.a2_id.hex, None)}, ["a1", "a2"])
        self.assertTrue(wait_healthy(sup, "a1") and wait_healthy(sup, "a2"))
        with sup.connect() as c:
            run = c.run("far", argv=["/bin/true"], requires={"xcode": "15"})
            self.assertEqual(run.reason, "exited", run.result)
            never = c.run("far", argv=["/bin/true"], requires={"xcode": "99"})
        self.assertEqual(len(agent_steps(a2)), 1)
        self.assertEqual(agent_steps(a1), [])
        self.assertEqual(never.reason, "rejected", never.result)
        self.assertIn("required labels", never.result["message"])

    def test_stepctl_agents(self):
        a1 = self.agent(self.a1_id)
        sup = self.supervisor({"a1": (a1.address, self.a1_id.hex, {"xcode": "15"})}, ["a1"])
        self.assertTrue(wait_healthy(sup, "a1"))
        info = agents_list(sup)
        self.assertEqual(set(info), {"builtin", "a1"})
        a = info["a1"]
        self.assertEqual((a["capacity"], a["running"], a["address"]), (4, 0, a1.address))
        self.assertTrue(a["version"].startswith("0."), a)
        self.assertIsNotNone(a["last_seen_usec"])
        self.assertEqual(a["labels"]["xcode"], "15")
        self.assertEqual(a["labels"]["os"], "linux")
        self.assertEqual(a["pools"], ["remote"])
        p = subprocess.run([STEPCTL, "--socket", sup.sock, "agents"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("a1", p.stdout)
        self.assertIn("healthy", p.stdout)


NS_A, NS_B = "stepd-agt-a-%d" % os.getpid(), "stepd-agt-b-%d" % os.getpid()


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@unittest.skipUnless(shutil.which("ip") and shutil.which("nsenter"), "needs ip and nsenter")
class NetnsTest(AgentsTest.__base__):
    """Supervisor in namespace A, agent in namespace B, a veth between them
    whose both ends are inside those namespaces: the host's network is not
    touched."""

    @classmethod
    def setUpClass(cls):
        AgentsTest.setUpClass.__func__(cls)
        sh("ip", "netns", "add", NS_A)
        sh("ip", "netns", "add", NS_B)
        sh("ip", "-n", NS_A, "link", "add", "va", "type", "veth", "peer", "name", "vb",
           "netns", NS_B)
        sh("ip", "-n", NS_A, "addr", "add", "10.199.77.1/30", "dev", "va")
        sh("ip", "-n", NS_B, "addr", "add", "10.199.77.2/30", "dev", "vb")
        for ns, dev in ((NS_A, "va"), (NS_B, "vb")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    @classmethod
    def tearDownClass(cls):
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        AgentsTest.tearDownClass.__func__(cls)

    setUp = AgentsTest.setUp
    tearDown = AgentsTest.tearDown
    node = AgentsTest.node

    def test_forward_across_namespaces(self):
        a = self.node("agent", agent_conf(self.a1_id, "10.199.77.2:7443",
                                          [self.sup_id.thumbprint]), netns=NS_B)
        wait_until(lambda: "event=agent-listen" in a.log(), timeout=10)
        sup = self.node("daemon", supervisor_conf(
            self.sup_id, {"b": ("10.199.77.2:7443", self.a1_id.hex, None)}, ["b"]), netns=NS_A)
        self.assertTrue(wait_healthy(sup, "b"), sup.log()[-2000:])
        with sup.connect() as c:
            run = c.run("far", script="printf 'over\\0veth'; head -c 100000 /dev/zero")
        self.assertEqual(run.reason, "exited", run.result)
        self.assertEqual(run.stdout, b"over\0veth" + b"\0" * 100000)
        self.assertIn("peer=10.199.77.1:", a.log())
        self.assertEqual(len(agent_steps(a)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
