#!/usr/bin/python3
"""`stepd doctor`: exit 0 on a host that can run stepd (this one), the cgroup
layout it reports is the one /proc/self/mounts shows, and an unusable state
folder or socket path fails with a clear message and the fix."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

STEPD = os.environ.get("STEPD", "stepd")


def doctor(*args, **kw):
    return subprocess.run([STEPD, "doctor", *args], capture_output=True, text=True, **kw)


def lines(out):
    """{check name: [(level, text)]}"""
    res = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|info|warning|FAIL)\s+(\S+)\s+(.*)$", line)
        if m:
            res.setdefault(m.group(2), []).append((m.group(1), m.group(3)))
    return res


def expected_layout():
    types = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _src, where, typ = line.split()[:3]
            if typ in ("cgroup", "cgroup2"):
                types.setdefault(typ, []).append(where)
    if "cgroup" not in types:
        return "v2"
    return "hybrid" if "cgroup2" in types else "v1"


@unittest.skipIf(os.geteuid() != 0, "stepd doctor checks what root can do")
class DoctorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="stepd-doctor-")
        self.conf = os.path.join(self.tmp, "conf")  # absent: built-in defaults

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_this_host_can_run_stepd(self):
        r = doctor("--config", self.conf, "--state", os.path.join(self.tmp, "state"),
                   "--socket", os.path.join(self.tmp, "run", "s.sock"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("stepd can run here", r.stdout)
        got = lines(r.stdout)
        for check in ("kernel", "privileges", "config", "namespaces", "userns", "seccomp",
                      "cgroups", "state", "socket", "oom", "tls"):
            self.assertIn(check, got, check)
            self.assertNotIn("FAIL", [lvl for lvl, _ in got[check]], check)
        # the build's TLS module is found by its absolute path in the build folder
        self.assertEqual(got["tls"][0][0], "ok", got["tls"])
        layout = expected_layout()
        self.assertTrue(any(t.startswith("layout %s" % layout) for _l, t in got["cgroups"]),
                        got["cgroups"])
        # nothing was left behind: no probe folder in the state's parent
        self.assertEqual([n for n in os.listdir(self.tmp) if "doctor" in n], [])

    def test_this_host_reports_hybrid(self):
        if expected_layout() != "hybrid":
            self.skipTest("this host is not hybrid")
        r = doctor("--config", self.conf)
        self.assertIn("layout hybrid", r.stdout)

    def test_oom_without_cap_sys_resource_is_a_warning(self):
        with open("/proc/self/status") as f:
            eff = int(re.search(r"CapEff:\s*([0-9a-f]+)", f.read()).group(1), 16)
        r = doctor("--config", self.conf, "--state", os.path.join(self.tmp, "state"))
        oom = lines(r.stdout)["oom"]
        if eff & (1 << 24):
            self.assertEqual(oom[0][0], "ok", oom)
        else:
            self.assertEqual(oom[0][0], "warning", oom)
            self.assertIn("CAP_SYS_RESOURCE", r.stdout)
            self.assertEqual(r.returncode, 0)

    def test_read_only_state_fails(self):
        ro = os.path.join(self.tmp, "ro")
        os.mkdir(ro)
        # a read-only tmpfs in a mount namespace of the test's own
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o ro none "$1" && exec "$2" doctor --config "$3" --state "$1/state"',
             "sh", ro, STEPD, self.conf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        state = lines(r.stdout)["state"]
        self.assertEqual(state[0][0], "FAIL")
        self.assertIn(ro + "/state: on a read-only file system", state[0][1])
        self.assertIn("fix: choose a writable folder", r.stdout)
        self.assertIn("stepd cannot run here: 1 problem", r.stdout)

    def test_state_not_a_folder_fails(self):
        f = os.path.join(self.tmp, "file")
        open(f, "w").close()
        r = doctor("--config", self.conf, "--state", f + "/state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a folder", lines(r.stdout)["state"][0][1])
        r = doctor("--config", self.conf, "--state", "relative/state")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an absolute path", r.stdout)

    def test_socket_path_taken_by_a_file_fails(self):
        f = os.path.join(self.tmp, "not-a-socket")
        open(f, "w").close()
        r = doctor("--config", self.conf, "--state", os.path.join(self.tmp, "state"),
                   "--socket", f)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists and is not a socket", r.stdout)
        # a listening socket is reported, not a failure
        path = os.path.join(self.tmp, "live.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen()
        try:
            r = doctor("--config", self.conf, "--state", os.path.join(self.tmp, "state"),
                       "--socket", path)
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("a stepd is listening there now", r.stdout)
        finally:
            s.close()

    def test_bad_configuration_fails(self):
        os.makedirs(self.conf)
        with open(os.path.join(self.conf, "stepd.json"), "w") as f:
            f.write('{"capacity": 0}\n')
        r = doctor("--config", self.conf, "--state", os.path.join(self.tmp, "state"))
        self.assertEqual(r.returncode, 1)
        cfg = lines(r.stdout)["config"]
        self.assertEqual(cfg[0][0], "FAIL")
        self.assertIn("stepd.json:1:", cfg[0][1])
        self.assertIn("capacity", cfg[0][1])

    def test_usage(self):
        r = doctor("--bogus")
        self.assertEqual(r.returncode, 2)
        r = doctor("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--state DIR", r.stdout)


if __name__ == "__main__":
    unittest.main()
