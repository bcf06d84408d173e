#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""stepd's default seccomp profile allows no syscall on x86_64 that Docker's
default profile denies to an unprivileged container.

An independent second reading of both files (the C test default_within_docker
uses stepd's own reader): Docker's rules are kept when they apply to amd64
without capabilities and without a minKernel condition (so only what Docker
allows unconditionally counts), and each allowing rule of ours must be
implied by one of them: same syscall, and each of Docker's argument
conditions either appears identically in ours or holds for the single value
ours pins that argument to with SCMP_CMP_EQ.
"""
import json
import os
import sys
import unittest

ALLOWING = {"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"}
NEVER = {"ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
         "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
         "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
         "delete_module", "open_by_handle_at", "io_uring_setup", "clone3", "chroot"}

SRC = os.environ.get("STEPD_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../../../.."))
OURS = os.path.join(SRC, "policies/seccomp/default.json")
DOCKER = os.path.join(SRC, "tests/data/docker-default-seccomp.json")


def applies_amd64_unprivileged(rule):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") or inc.get("minKernel") or exc.get("minKernel"):
        return False
    if inc.get("arches") and "amd64" not in inc["arches"]:
        return False
    if exc.get("arches") and "amd64" in exc["arches"]:
        return False
    return True


def names(rule):
    return rule.get("names") or [rule["name"]]


def holds(cond, v):
    op, x, y = cond["op"], cond["value"], cond.get("valueTwo", 0)
    return {"SCMP_CMP_NE": v != x, "SCMP_CMP_LT": v < x, "SCMP_CMP_LE": v <= x,
            "SCMP_CMP_EQ": v == x, "SCMP_CMP_GE": v >= x, "SCMP_CMP_GT": v > x,
            "SCMP_CMP_MASKED_EQ": (v & x) == y}[op]


def same(a, b):
    return (a["index"], a["op"], a["value"], a.get("valueTwo", 0)) == \
        (b["index"], b["op"], b["value"], b.get("valueTwo", 0))


def implied(dcond, ours_args):
    for a in ours_args:
        if a["index"] != dcond["index"]:
            continue
        if same(a, dcond) or (a["op"] == "SCMP_CMP_EQ" and holds(dcond, a["value"])):
            return True
    return False


def uncovered(ours, docker):
    """Our allowing (syscall, rule) pairs that no Docker rule covers."""
    drules = [r for r in docker["syscalls"]
              if r["action"] in ALLOWING and applies_amd64_unprivileged(r)]
    bad = []
    for r in ours["syscalls"]:
        if r["action"] not in ALLOWING or not applies_amd64_unprivileged(r):
            continue
        args = r.get("args") or []
        for n in names(r):
            if not any(n in names(d) and all(implied(c, args) for c in d.get("args") or [])
                       for d in drules):
                bad.append((n, args))
    return bad


class DefaultWithinDocker(unittest.TestCase):
    def setUp(self):
        with open(OURS) as f:
            self.ours = json.load(f)
        with open(DOCKER) as f:
            self.docker = json.load(f)

    def test_subset(self):
        self.assertEqual(self.ours["defaultAction"], "SCMP_ACT_ERRNO")
        self.assertIn(self.ours.get("defaultErrnoRet", 1), (1,))
        self.assertNotIn("architectures", self.ours)
        self.assertNotIn("archMap", self.ours)
        self.assertEqual(uncovered(self.ours, self.docker), [])

    def test_never(self):
        allowed = {n for r in self.ours["syscalls"] if r["action"] in ALLOWING for n in names(r)}
        self.assertEqual(allowed & NEVER, set())

    def test_comparison_can_fail(self):
        for extra in ({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"},
                      {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
                      {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                       "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]}):
            worse = dict(self.ours, syscalls=self.ours["syscalls"] + [extra])
            self.assertEqual(len(uncovered(worse, self.docker)), 1, extra)


if __name__ == "__main__":
    unittest.main(verbosity=2)
