"""A scripted stand-in for stepd, to test how stepctl copes with what a
server may send that the real daemon rarely does (garbage, a cut
connection, a long queue). Each accepted connection is handed to a
handler(conn) running in a thread; conn has recv()/send()/send_raw()."""

import base64
import json
import os
import socket
import struct
import tempfile
import threading


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.received = []

    def recv(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    payload, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    msg = json.loads(payload)
                    self.received.append(msg)
                    return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def send(self, obj):
        payload = json.dumps(obj).encode()
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def send_raw(self, data):
        self.sock.sendall(data)

    def hello(self):
        msg = self.recv()
        assert msg["type"] == "hello", msg
        self.send({"type": "hello", "version": 1, "server": "fake/0", "max_frame": 1048576,
                   "uid": os.getuid()})

    def output(self, step, stream, offset, data):
        self.send({"type": "output", "step": step, "stream": stream, "offset": offset,
                   "data": base64.b64encode(data).decode()})


def result(reason="exited", exit_code=0, signal=0, message=""):
    return {"reason": reason, "exit_code": exit_code, "signal": signal, "wall_ms": 12.5,
            "cpu_user_ms": 1.0, "cpu_system_ms": 2.0, "memory_peak_bytes": 1 << 20,
            "oom_kills": 0, "processes_killed": 0, "output_bytes": 0, "setup_step": "",
            "setup_errno": 0, "message": message}


class FakeStepd:
    def __init__(self, handler):
        self.dir = tempfile.mkdtemp(prefix="fakestepd-")
        self.path = os.path.join(self.dir, "s.sock")
        self.handler = handler
        self.conns = []
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            conn = Conn(s)
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except Exception as e:  # reported by the test through .errors
            self.errors.append(e)
        finally:
            conn.sock.close()

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.rmdir(self.dir)
