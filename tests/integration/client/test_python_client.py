#!/usr/bin/env python3
"""The protocol from outside C: tests/integration/stepd_client.py (standard
library only) against the real daemon."""

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_harness import DaemonTestCase, PROJECT  # noqa: E402
import stepd_client  # noqa: E402
from stepd_client import Client, StepdError  # noqa: E402


class PythonClient(DaemonTestCase):
    def client(self):
        c = stepd_client.connect(self.sock, timeout=30)
        self.addCleanup(c.close)
        return c

    def test_hello(self):
        c = Client(self.sock)
        self.addCleanup(c.close)
        h = c.hello()
        self.assertEqual(h["type"], "hello")
        self.assertEqual(h["version"], 1)
        self.assertEqual(h["uid"], os.getuid())
        self.assertEqual(h["max_frame"], 1024 * 1024)
        self.assertTrue(h["server"].startswith("stepd/"))

    def test_run_output_and_exit(self):
        c = self.client()
        run = c.run(PROJECT, argv=["/bin/sh", "-c", r"printf 'out\000'; printf err >&2; exit 3"],
                    env={"CLIENT_TEST_X": "1"}, stdin=b"ignored", timeout_ms=30000)
        self.assertEqual(run.stdout, b"out\x00")
        self.assertEqual(run.stderr, b"err")
        self.assertEqual(run.reason, "exited")
        self.assertEqual(run.result["exit_code"], 3)
        self.assertEqual(run.exit_status, 3)
        self.assertEqual(run.first["type"], "accepted")
        types = [e["type"] for e in run.events]
        self.assertEqual(types[0], "started")
        self.assertEqual(types[-1], "exit")
        # Offsets count stdout and stderr together, without gaps.
        off = 0
        for e in run.events:
            if e["type"] == "output":
                self.assertEqual(e["offset"], off)
                off += len(stepd_client.base64.b64decode(e["data"]))
        self.assertEqual(off, 7)

    def test_script_and_stdin(self):
        c = self.client()
        run = c.run(PROJECT, script="read line; echo \"got $line\"\n", stdin="abc\n")
        self.assertEqual((run.stdout, run.exit_status), (b"got abc\n", 0))

    def test_streaming_events(self):
        c = self.client()
        acc = c.run(PROJECT, argv=["/bin/sh", "-c", "echo a; sleep 0.2; echo b"], wait=False)
        self.assertEqual(acc["type"], "accepted")
        self.assertIsInstance(acc["queue_position"], int)
        seen = list(c.events(acc["step"]))
        self.assertEqual(seen[-1]["type"], "exit")

    def test_attach_list_status_result_cancel(self):
        c = self.client()
        acc = c.run(PROJECT, argv=["/bin/sh", "-c", "echo hello; exec sleep 60"], wait=False)
        step = acc["step"]
        for ev in c.events(step):
            if ev["type"] == "output":
                break
        d = self.client()
        self.assertIn(step, [s["step"] for s in d.list() if s["state"] == "running"])
        st = d.status()
        self.assertGreaterEqual(st["running"], 1)
        with self.assertRaises(StepdError) as cm:
            d.result(step)
        self.assertEqual(cm.exception.code, "not-finished")
        self.assertEqual(d.cancel(step)["type"], "cancelling")
        run = c.follow(acc)
        self.assertEqual(run.reason, "cancelled")
        self.assertEqual(d.result(step)["reason"], "cancelled")
        again = d.attach(step, offset=3)
        self.assertEqual((again.output, again.reason), (b"lo\n", "cancelled"))

    def test_queue(self):
        # Capacity 2: a third step waits, learns its position, starts when a
        # slot frees, and a cancelled queued step never starts.
        holders = [self.client() for _ in range(2)]
        accs = [h.run(PROJECT, argv=["/bin/sleep", "30"], wait=False) for h in holders]
        for h, a in zip(holders, accs):
            for ev in h.events(a["step"]):
                if ev["type"] == "started":
                    break
        waiter, doomed = self.client(), self.client()
        w = waiter.run(PROJECT, argv=["/bin/echo", "finally"], wait=False)
        d = doomed.run(PROJECT, argv=["/bin/echo", "never"], wait=False)
        self.assertEqual((w["queue_position"], d["queue_position"]), (1, 2))
        self.assertEqual(self.client().status()["queued"], 2)
        self.assertEqual(self.client().cancel(d["step"])["type"], "cancelling")
        gone = doomed.follow(d)
        self.assertEqual((gone.reason, gone.output), ("cancelled", b""))
        self.assertNotIn("started", [e["type"] for e in gone.events])
        self.client().cancel(accs[0]["step"])
        run = waiter.follow(w)
        self.assertEqual((run.stdout, run.exit_status), (b"finally\n", 0))
        self.assertIn("started", [e["type"] for e in run.events])
        self.client().cancel(accs[1]["step"])
        for h, a in zip(holders, accs):
            self.assertEqual(h.follow(a).reason, "cancelled")

    def test_errors_keep_connection(self):
        c = self.client()
        with self.assertRaises(StepdError) as cm:
            c.run(PROJECT, argv=["/bin/true"], no_such_member=1)
        self.assertEqual(cm.exception.code, "unknown-field")
        with self.assertRaises(StepdError) as cm:
            c.request({"type": "frobnicate"})
        self.assertEqual(cm.exception.code, "unknown-type")
        with self.assertRaises(StepdError) as cm:
            c.run("no-such-project", argv=["/bin/true"])
        self.assertEqual(cm.exception.code, "unknown-project")
        # The connection is still usable.
        self.assertEqual(c.run(PROJECT, argv=["/bin/true"]).exit_status, 0)

    def test_handshake_required(self):
        c = Client(self.sock)
        self.addCleanup(c.close)
        c.send({"type": "status", "req": 1})
        err = c.recv()
        self.assertEqual((err["type"], err["code"]), ("error", "handshake-required"))
        self.assertIsNone(c.recv())  # closed

    def test_versions(self):
        # A newer client gets the highest version both speak: 1.
        c = Client(self.sock)
        self.addCleanup(c.close)
        self.assertEqual(c.hello(version=99)["version"], 1)
        d = Client(self.sock)
        self.addCleanup(d.close)
        with self.assertRaises(StepdError) as cm:
            d.hello(version=0)
        self.assertEqual(cm.exception.code, "unsupported-version")
        self.assertIsNone(d.recv())  # closed

    def test_bad_frames_close_only_that_connection(self):
        other = self.client()
        for raw, code in ((b"\x00\x00\x00\x00", "bad-frame"),
                          (struct.pack(">I", 2 * 1024 * 1024), "frame-too-large"),
                          (stepd_client.encode_frame(b"[1,2]"), "bad-frame")):
            c = self.client()
            c.send_raw(raw)
            err = c.recv()
            self.assertEqual((err["type"], err["code"]), ("error", code), raw)
            self.assertIsNone(c.recv())
        self.assertEqual(other.status()["type"], "status")

    def test_frame_helpers(self):
        frames, rest = stepd_client.decode_frames(
            stepd_client.encode_frame({"type": "x"}) + stepd_client.encode_frame(b"ab") + b"\x00")
        self.assertEqual(frames, [b'{"type":"x"}', b"ab"])
        self.assertEqual(rest, b"\x00")

    def test_missing_socket(self):
        with self.assertRaises(FileNotFoundError):
            Client(os.path.join(self.tmp, "absent.sock"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
