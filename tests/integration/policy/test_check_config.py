#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`stepd check-config`: the shipped examples validate, each example project
is explained (uid, mounts, limits, seccomp profile), broken folders exit 1
with FILE:LINE:COL: KEY: MESSAGE, and nothing is ever written."""

import os
import shutil
import subprocess
import tempfile
import unittest

STEPD = os.environ.get("STEPD", "stepd")
SRC = os.environ.get("STEPD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLES = os.path.join(SRC, "policies")


def check_config(*args):
    p = subprocess.run([STEPD, "check-config"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Scratch:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="stepd-check-config-")
        self.cfg = os.path.join(self.root, "cfg")
        self.state = os.path.join(self.root, "state")
        os.makedirs(self.cfg)

    def write(self, rel, text):
        path = os.path.join(self.cfg, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


class ExamplesTest(unittest.TestCase):
    def setUp(self):
        self.s = Scratch()
        self.addCleanup(self.s.remove)

    def example_projects(self):
        names = sorted(f[:-5] for f in os.listdir(os.path.join(EXAMPLES, "projects.d"))
                       if f.endswith(".json"))
        self.assertGreaterEqual(len(names), 3, names)
        return names

    def test_examples_validate(self):
        rc, out, err = check_config("--config", EXAMPLES, "--state", self.s.state)
        self.assertEqual(rc, 0, err)
        # only warnings on stderr: the deploy example's bridge, mirror's host network
        for line in err.splitlines():
            self.assertTrue(line.startswith("warning: "), line)
        self.assertIn('warning: %s/projects.d/mirror.json: project "mirror": network "host": '
                      "steps share the host's network namespace" % EXAMPLES, err)
        self.assertIn("%s: OK" % EXAMPLES, out)
        self.assertIn("projects: " + " ".join(self.example_projects()), out)

    def test_each_example_project_is_explained(self):
        for name in self.example_projects():
            with self.subTest(project=name):
                rc, out, err = check_config("--config", EXAMPLES, "--state", self.s.state, name)
                self.assertEqual(rc, 0, err)
                self.assertRegex(out, r"identity: +uid \d+.*, gid \d+")
                self.assertIn("mounts:      /work  rw", out)
                self.assertIn("/tmp   rw  private tmpfs", out)
                self.assertRegex(out, r"limits: +memory \S+, pids \S+, cpu \S+")
                self.assertRegex(out, r"seccomp: +profile \"default\" \(built in\), default action "
                                      r"SCMP_ACT_\w+(\(\w+\))?, [1-9]\d* rules")
                self.assertRegex(out, r"timeout: +default \S+, at most \S+")
        # nothing was written: explaining never allocates
        self.assertFalse(os.path.exists(self.s.state))

    def test_example_specifics(self):
        rc, out, _ = check_config("--config", EXAMPLES, "--state", self.s.state, "build")
        self.assertEqual(rc, 0)
        self.assertIn("/cache rw  the project's persistent cache folder", out)
        self.assertIn("memory 4G, pids 1024, cpu 2.000 cpus, nofile 8192, fsize 8G", out)
        rc, out, _ = check_config("--config", EXAMPLES, "--state", self.s.state, "mirror")
        self.assertEqual(rc, 0)
        self.assertIn("network:     host:", out)
        self.assertIn("/srv/mirror  rw  from host /var/tmp", out)
        rc, out, _ = check_config("--config", EXAMPLES, "--state", self.s.state, "deploy")
        self.assertEqual(rc, 0)
        self.assertIn("/run/certs  ro  from host /etc/ssl/certs", out)
        self.assertIn("bridge: own namespace, eth0 10.77.0.10/24 on host bridge br-deploy", out)
        self.assertIn("members of groups 4 (adm)", out)


class ErrorsTest(unittest.TestCase):
    def setUp(self):
        self.s = Scratch()
        self.addCleanup(self.s.remove)

    def test_broken_project_points_at_the_line(self):
        path = self.s.write("projects.d/web.json",
                            '{\n  "limits": {\n    "memory": "lots"\n  }\n}\n')
        rc, out, err = check_config("--config", self.s.cfg, "--state", self.s.state)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertEqual(err, '%s:3:15: limits.memory: expected a size such as "512M", "2G" or '
                              'bytes or "unlimited", got "lots"\n' % path)

    def test_syntax_error(self):
        path = self.s.write("stepd.json", '{"capacity": 4 "queue_limit": 3}')
        rc, _, err = check_config("--config", self.s.cfg)
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("%s:1:" % path), err)

    def test_unknown_profile(self):
        path = self.s.write("projects.d/web.json", '{"seccomp": "nope"}')
        rc, _, err = check_config("--config", self.s.cfg, "--state", self.s.state)
        self.assertEqual(rc, 1)
        self.assertEqual(err, '%s:1:13: seccomp: unknown seccomp profile "nope": expected '
                              '"default", "unconfined" or a profile in seccomp.d/\n' % path)

    def test_broken_seccomp_profile(self):
        path = self.s.write("seccomp.d/strict.json", '{"defaultAction": "SCMP_ACT_NOPE"}')
        rc, _, err = check_config("--config", self.s.cfg)
        self.assertEqual(rc, 1)
        self.assertTrue(err.startswith("%s:1:" % path), err)
        self.assertIn("defaultAction", err)

    def test_profile_from_seccomp_d_is_explained(self):
        self.s.write("seccomp.d/strict.json",
                     '{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": '
                     '[{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}')
        self.s.write("projects.d/web.json", '{"seccomp": "strict"}')
        rc, out, err = check_config("--config", self.s.cfg, "--state", self.s.state, "web")
        self.assertEqual(rc, 0, err)
        self.assertIn('profile "strict" (%s/seccomp.d/strict.json), default action '
                      'SCMP_ACT_KILL_PROCESS, 3 rules' % self.s.cfg, out)

    def test_unknown_project(self):
        self.s.write("projects.d/web.json", "{}")
        rc, out, err = check_config("--config", self.s.cfg, "nope")
        self.assertEqual(rc, 1)
        self.assertIn('no such project "nope"', err)

    def test_empty_folder_is_the_builtin_default(self):
        rc, out, err = check_config("--config", self.s.cfg, "--state", self.s.state)
        self.assertEqual(rc, 0, err)
        self.assertIn("any valid project name runs under the built-in default", out)
        rc, out, err = check_config("--config", self.s.cfg, "--state", self.s.state, "anything")
        self.assertEqual(rc, 0, err)
        self.assertIn("built-in default", out)
        self.assertIn("network:     none", out)
        self.assertIn('profile "default" (built in)', out)
        self.assertFalse(os.path.exists(self.s.state))

    def test_usage(self):
        rc, _, _ = check_config("--bogus")
        self.assertEqual(rc, 2)
        rc, _, _ = check_config("a", "b")
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
