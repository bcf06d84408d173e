# SPDX-License-Identifier: MIT
"""Start the real `stepd daemon` on temporary paths and talk to it with a
minimal frame client (docs/protocol.md), standard library only."""

import base64
import json
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time

STEPD = os.environ.get("STEPD", "stepd")
FRAME_MAX = 1024 * 1024


def frame(obj):
    data = obj if isinstance(obj, (bytes, bytearray)) else json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


class Closed(Exception):
    pass


class Conn:
    """One client connection. recv() returns decoded objects; None at EOF."""

    def __init__(self, path, hello=True, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.req = 0
        if hello:
            self.send({"type": "hello", "version": 1, "client": "daemon-tests/1"})
            r = self.recv()
            assert r and r["type"] == "hello", r

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(frame(obj))

    def request(self, obj):
        self.req += 1
        obj = dict(obj, req=self.req)
        self.send(obj)
        return self.req

    def _fill(self):
        try:
            d = self.sock.recv(1 << 20)
        except ConnectionResetError:
            d = b""
        if not d:
            raise Closed()
        self.buf += d

    def recv(self):
        """The next object, or None when the server closed the connection."""
        try:
            while len(self.buf) < 4:
                self._fill()
            n = struct.unpack(">I", self.buf[:4])[0]
            while len(self.buf) < 4 + n:
                self._fill()
        except Closed:
            return None
        obj = json.loads(self.buf[4:4 + n])
        self.buf = self.buf[4 + n:]
        return obj

    def call(self, obj):
        """Send a request and return the reply carrying its req."""
        req = self.request(obj)
        while True:
            r = self.recv()
            if r is None or r.get("req") == req:
                return r

    def run(self, project="demo", **kw):
        """Send run and collect its events up to exit."""
        req = self.request(dict({"type": "run", "project": project}, **kw))
        acc = self.recv()
        while acc is not None and acc.get("req") != req:
            acc = self.recv()
        if acc is None or acc["type"] != "accepted":
            return Run(acc, [])
        return Run(acc, self.events(acc["step"]))

    def events(self, step):
        evs = []
        while True:
            ev = self.recv()
            if ev is None:
                raise AssertionError("connection closed before exit: %r" % evs[-3:])
            if ev.get("step") != step:
                continue
            evs.append(ev)
            if ev["type"] in ("exit", "error"):
                return evs


class Run:
    def __init__(self, accepted, events):
        self.accepted = accepted
        self.events = events
        self.stdout = b""
        self.stderr = b""
        self.output = b""
        self.offsets_ok = True
        self.result = None
        pos = None
        for ev in events:
            if ev["type"] == "output":
                data = base64.b64decode(ev["data"])
                if pos is not None and ev["offset"] != pos:
                    self.offsets_ok = False
                pos = ev["offset"] + len(data)
                self.output += data
                if ev["stream"] == "stdout":
                    self.stdout += data
                else:
                    self.stderr += data
            elif ev["type"] == "exit":
                self.result = ev["result"]

    @property
    def step(self):
        return self.accepted["step"]

    @property
    def reason(self):
        return self.result["reason"] if self.result else None


def collect(conn, step):
    return Run({"step": step}, conn.events(step))


class Daemon:
    """stepd daemon on a temporary socket, state and config folder."""

    def __init__(self, args=(), conf=None, tmp=None, start=True, env=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="stepd-daemon-test-")
        os.chmod(self.tmp, 0o755)  # the non-root test connects through it
        self.sock = os.path.join(self.tmp, "s.sock")
        self.state = os.path.join(self.tmp, "state")
        self.conf = os.path.join(self.tmp, "conf")
        os.makedirs(self.conf, exist_ok=True)
        if conf is not None:
            with open(os.path.join(self.conf, "stepd.json"), "w") as f:
                json.dump(conf, f)
        self.args = list(args)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(self.tmp, "stepd.log")
        if start:
            self.start()

    def command(self):
        return [STEPD, "daemon", "--socket", self.sock, "--state", self.state,
                "--config", self.conf, "--socket-mode", "0666",
                "--log-level", "debug"] + self.args

    def start(self, command=None, wait_path=None):
        readies = self.log().count("event=ready")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(command or self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, env=self.env)
        if wait_path:  # socket activation: the socket exists before stepd runs
            self.wait_ready(wait_path)
            return
        # the socket file of an earlier instance may still exist: wait for
        # this one to say it is ready, then for the socket to answer
        end = time.time() + 20
        while self.log().count("event=ready") == readies and time.time() < end:
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.wait_ready(self.sock)

    def wait_ready(self, path, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("stepd exited with %s:\n%s" % (self.proc.returncode,
                                                                     self.log()[-6000:]))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("stepd did not listen on %s:\n%s" % (path, self.log()[-6000:]))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def connect(self, **kw):
        return Conn(self.sock, **kw)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self):
        """SIGTERM, and SIGKILL by pid if it does not stop."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def step_dir(self, step):
        return os.path.join(self.state, "steps", step)


def processes_with(marker):
    """Host pids whose command line contains marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def wait_until(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def read_log_records(path):
    """Decode the on-disk log: list of (stream, bytes)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 8 <= len(data):
        stream = data[pos]
        n = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((stream, data[pos + 8:pos + 8 + n]))
        pos += 8 + n
    assert pos == len(data), "torn log record"
    return out
