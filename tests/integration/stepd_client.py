"""A complete client for the stepd protocol (docs/protocol.md), using only
Python's standard library. It shows the protocol is usable from outside C,
and integration tests import it.

    from stepd_client import Client, StepdError

    with Client("/run/stepd/stepd.sock") as c:
        c.hello()
        run = c.run("demo", argv=["/bin/sh", "-c", "echo hi; exit 3"])
        run.stdout          # b"hi\\n"
        run.result          # {"reason": "exited", "exit_code": 3, ...}
        run.exit_status     # 3 (what stepctl would exit with)

Streaming: ``acc = c.run(..., wait=False)`` returns the ``accepted`` reply;
then ``for ev in c.events(): ...`` yields every event up to and including
``exit``. Requests: ``attach``, ``cancel``, ``list``, ``status``, ``result``.
An ``error`` reply raises StepdError (code, message, reply).

Low level, for hostile tests: ``send(obj)`` (one JSON frame, returns the
req it carries), ``recv()`` (one decoded object, or None at end of stream),
``send_frame(payload_bytes)``, ``recv_frame()``, ``send_raw(bytes)``, and
the module functions ``encode_frame`` and ``decode_frames``.
"""

import base64
import collections
import json
import socket
import struct

PROTOCOL_VERSION = 1
FRAME_MAX = 1024 * 1024
REASONS = ("exited", "signaled", "timeout", "oom", "cancelled", "rejected",
           "setup-failed", "lost")


class ProtocolError(Exception):
    """The server sent something that is not a valid frame or message."""


class StepdError(Exception):
    """stepd answered with an ``error``."""

    def __init__(self, reply):
        self.reply = reply
        self.code = reply.get("code")
        self.message = reply.get("message", "")
        super().__init__("%s: %s" % (self.code, self.message))


def encode_frame(payload):
    """A frame for a dict (encoded as JSON) or raw bytes, sent as they are."""
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(",", ":")).encode()
    return struct.pack(">I", len(payload)) + payload


def decode_frames(buf):
    """Split bytes into whole frame payloads: (list of bytes, rest)."""
    frames = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", buf[:4])
        if len(buf) < 4 + n:
            break
        frames.append(buf[4:4 + n])
        buf = buf[4 + n:]
    return frames, buf


def exit_status(result):
    """The exit status stepctl gives for a result, like docker run."""
    reason = result.get("reason")
    code = result.get("exit_code", -1)
    sig = result.get("signal", 0)
    if reason == "exited":
        return code
    if reason in ("signaled", "timeout", "oom", "cancelled"):
        if code is not None and code >= 0:
            return code
        return 128 + sig if sig else 125
    return 125


class StepRun:
    """Everything a client saw of one step, up to its exit."""

    def __init__(self, first):
        self.first = first          # the `accepted` or `attached` reply
        self.step = first.get("step")
        self.events = []
        self.stdout = b""
        self.stderr = b""
        self.output = b""           # both streams, in stepd's order
        self.offset = first.get("offset", 0) if first.get("type") == "attached" else 0
        self.result = None

    def add(self, ev):
        self.events.append(ev)
        if ev.get("type") == "output":
            data = base64.b64decode(ev["data"], validate=True)
            if ev["stream"] == "stderr":
                self.stderr += data
            else:
                self.stdout += data
            self.output += data
            self.offset = ev["offset"] + len(data)
        elif ev.get("type") == "exit":
            self.result = ev["result"]

    @property
    def exit_status(self):
        return None if self.result is None else exit_status(self.result)

    @property
    def reason(self):
        return None if self.result is None else self.result.get("reason")


class Client:
    def __init__(self, path, timeout=60.0, connect=True):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.hello_reply = None
        self._buf = b""
        self._pending = collections.deque()
        self._next_req = 1
        if connect:
            self.connect()

    # -- connection ---------------------------------------------------------
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.sock = s
        return self

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames -------------------------------------------------------------
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.send_raw(encode_frame(payload))

    def _read_some(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no message from stepd within %ss" % self.timeout)
        return chunk

    def recv_frame(self):
        """One payload (bytes), or None when the server closed between frames."""
        while True:
            if len(self._buf) >= 4:
                (n,) = struct.unpack(">I", self._buf[:4])
                if n == 0 or n > FRAME_MAX:
                    raise ProtocolError("frame length %d" % n)
                if len(self._buf) >= 4 + n:
                    payload, self._buf = self._buf[4:4 + n], self._buf[4 + n:]
                    return payload
            chunk = self._read_some()
            if not chunk:
                if self._buf:
                    raise ProtocolError("connection closed inside a frame")
                return None
            self._buf += chunk

    def send(self, obj):
        """Send one message; give it a fresh `req` unless it has one (or is
        hello). Returns its req (or None)."""
        if obj.get("type") != "hello" and "req" not in obj:
            obj = dict(obj, req=self._next_req)
            self._next_req += 1
        self.send_frame(obj)
        return obj.get("req")

    def recv(self):
        """One message (a dict with a string `type`), or None at end of stream."""
        if self._pending:
            return self._pending.popleft()
        payload = self.recv_frame()
        if payload is None:
            return None
        try:
            msg = json.loads(payload.decode("utf-8"))
        except ValueError as e:
            raise ProtocolError("payload is not JSON: %s" % e)
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolError("payload is not an object with a type: %r" % payload[:80])
        return msg

    # -- requests -----------------------------------------------------------
    def hello(self, version=PROTOCOL_VERSION, client="stepd_client.py/1"):
        try:
            self.send({"type": "hello", "version": version, "client": client})
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at once (too-many-connections): the error is there to read
        reply = self.recv()
        if reply is None:
            raise ProtocolError("connection closed during hello")
        if reply["type"] == "error":
            raise StepdError(reply)
        if reply["type"] != "hello":
            raise ProtocolError("expected hello, got %r" % reply)
        self.hello_reply = reply
        return reply

    def request(self, obj):
        """Send a request and return its reply; messages that are not the
        reply are kept for recv()/events(). An `error` reply raises."""
        req = self.send(obj)
        held = []
        try:
            while True:
                msg = self.recv()
                if msg is None:
                    raise ProtocolError("connection closed before the reply to req %s" % req)
                if msg.get("req") == req or (msg["type"] == "error" and "req" not in msg):
                    if msg["type"] == "error":
                        raise StepdError(msg)
                    return msg
                held.append(msg)
        finally:
            self._pending.extendleft(reversed(held))

    call = request  # the name some tests use

    def events(self, step=None):
        """Yield messages up to and including the `exit` (of `step`, if
        given). An `error` without a req, or one about this step, raises."""
        while True:
            msg = self.recv()
            if msg is None:
                raise ProtocolError("connection closed before exit")
            if msg["type"] == "error" and ("req" not in msg or msg.get("step") == step):
                raise StepdError(msg)
            yield msg
            if msg["type"] == "exit" and (step is None or msg.get("step") == step):
                return

    def follow(self, first):
        """Collect a step's events after its accepted/attached reply."""
        run = StepRun(first)
        for ev in self.events(run.step):
            if ev.get("step") == run.step:
                run.add(ev)
        return run

    def run(self, project, argv=None, script=None, interpreter=None, env=None, stdin=None,
            timeout_ms=None, labels=None, idempotency_key=None, cancel_on_disconnect=None,
            retry_safe=None, wait=True, **extra):
        """Run a step. wait=True: a StepRun with output and result.
        wait=False: the `accepted` reply (then iterate events()).
        extra: members sent as they are (for tests of unknown-field...)."""
        req = {"type": "run", "project": project}
        for key, val in (("argv", argv), ("script", script), ("interpreter", interpreter),
                         ("env", env), ("timeout_ms", timeout_ms), ("labels", labels),
                         ("idempotency_key", idempotency_key),
                         ("cancel_on_disconnect", cancel_on_disconnect),
                         ("retry_safe", retry_safe)):
            if val is not None:
                req[key] = list(val) if key == "argv" else val
        if stdin is not None:
            if isinstance(stdin, str):
                stdin = stdin.encode()
            req["stdin"] = base64.b64encode(stdin).decode()
        req.update(extra)
        accepted = self.request(req)
        return self.follow(accepted) if wait else accepted

    def attach(self, step, offset=0, wait=True):
        attached = self.request({"type": "attach", "step": step, "offset": offset})
        attached.setdefault("offset", offset)
        return self.follow(attached) if wait else attached

    def cancel(self, step):
        return self.request({"type": "cancel", "step": step})

    def list(self):
        return self.request({"type": "list"})["steps"]

    def status(self):
        return self.request({"type": "status"})

    def result(self, step):
        return self.request({"type": "result", "step": step})["result"]


def connect(path, timeout=60.0):
    """A connected client that has said hello."""
    c = Client(path, timeout=timeout)
    try:
        c.hello()
    except BaseException:
        c.close()
        raise
    return c
