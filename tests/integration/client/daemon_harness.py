"""Start the real `stepd daemon` on temporary paths for a test class and stop
it by its pid afterwards.

    class T(DaemonTestCase):
        def test_x(self):
            p = self.stepctl("run", "--project", PROJECT, "--", "true")
"""

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
sys.path.insert(0, os.path.dirname(HERE))  # tests/integration: stepd_client

STEPD = os.environ.get("STEPD", "stepd")
STEPCTL = os.environ.get("STEPCTL", "stepctl")
PROJECT = "clienttest"

# Capacity 2, short kill grace: the tests run long steps next to short ones.
SETTINGS = '{"capacity": 2, "queue_limit": 8, "kill_grace": "1s"}\n'
# The environment tests pass CLIENT_TEST_* variables; nothing else is allowed.
PROJECT_POLICY = '{"env_allow": ["CLIENT_TEST_*"]}\n'


class DaemonTestCase(unittest.TestCase):
    daemon = None
    daemon_args = []  # more `stepd daemon` options for a test class

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("stepd needs root")
        cls.tmp = tempfile.mkdtemp(prefix="stepd-client-test-")
        cls.sock = os.path.join(cls.tmp, "s.sock")
        cls.state = os.path.join(cls.tmp, "state")
        cls.conf = os.path.join(cls.tmp, "conf")
        os.makedirs(os.path.join(cls.conf, "projects.d"))
        with open(os.path.join(cls.conf, "stepd.json"), "w") as f:
            f.write(SETTINGS)
        with open(os.path.join(cls.conf, "projects.d", PROJECT + ".json"), "w") as f:
            f.write(PROJECT_POLICY)
        cls.log = open(os.path.join(cls.tmp, "stepd.log"), "w+b")
        try:
            cls.start_daemon()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_daemon(cls):
        """Start stepd on the class's paths (again, after stop_daemon or a kill)."""
        cls.daemon = subprocess.Popen(
            [STEPD, "daemon", "--socket", cls.sock, "--state", cls.state,
             "--config", cls.conf, "--drain-grace", "2s"] + cls.daemon_args,
            stdout=cls.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not cls.listening():
            status = cls.daemon.poll()
            if status is not None or time.monotonic() > deadline:
                cls.stop_daemon()
                raise RuntimeError("stepd did not start (status %s):\n%s"
                                   % (status, cls.daemon_log()))
            time.sleep(0.05)

    @classmethod
    def listening(cls):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(cls.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    @classmethod
    def daemon_log(cls):
        cls.log.flush()
        cls.log.seek(0)
        return cls.log.read().decode(errors="replace")

    @classmethod
    def stop_daemon(cls):
        d = cls.daemon
        if d is not None and d.poll() is None:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(timeout=10)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        cls.daemon = None

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon()
        cls.log.close()
        if os.environ.get("STEPD_KEEP_TMP"):
            print("kept", cls.tmp, file=sys.stderr)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def stepctl(self, *args, input=None, env=None, timeout=60):
        cmd = [STEPCTL, "--socket", self.sock] + list(args)
        return subprocess.run(cmd, capture_output=True, input=input, env=env, timeout=timeout)

    def stepctl_bg(self, *args, env=None):
        cmd = [STEPCTL, "--socket", self.sock] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.addCleanup(self._reap, p)
        return p

    @staticmethod
    def _reap(p):
        if p.poll() is None:
            p.kill()
        p.communicate()

    def run_ok(self, *args, **kw):
        p = self.stepctl(*args, **kw)
        self.assertEqual(p.returncode, 0, "stepctl %s: %r\ndaemon log:\n%s"
                         % (" ".join(args), p.stderr, self.daemon_log()[-3000:]))
        return p
