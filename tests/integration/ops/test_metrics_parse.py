#!/usr/bin/python3
"""The metrics exposition, read by Prometheus' own text parser: every family
has the type and the values the sample view (test_metrics.c --dump) set."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promparse import parse, value  # noqa: E402

DUMP = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TEST_OPS_METRICS")


class ParseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = subprocess.run([DUMP, "--dump"], check=True, capture_output=True, text=True)
        cls.text = out.stdout
        cls.fams = parse(out.stdout)

    def test_types(self):
        want = {
            "stepd_build_info": "gauge",
            "stepd_steps_accepted": "counter",
            "stepd_steps_started": "counter",
            "stepd_steps_ended": "counter",
            "stepd_steps_running": "gauge",
            "stepd_steps_queued": "gauge",
            "stepd_capacity": "gauge",
            "stepd_queue_limit": "gauge",
            "stepd_draining": "gauge",
            "stepd_step_duration_seconds": "histogram",
            "stepd_requests_rejected": "counter",
            "stepd_clients_connected": "gauge",
            "stepd_agent_up": "gauge",
            "stepd_agent_info": "gauge",
            "stepd_metrics_timestamp_seconds": "gauge",
        }
        # every sample follows its own # TYPE line (else the parser says "unknown")
        for name, (typ, _samples) in self.fams.items():
            self.assertNotEqual(typ, "unknown", name)
        for name, typ in want.items():
            self.assertIn(name, self.fams, name)
            self.assertEqual(self.fams[name][0], typ, name)

    def test_values(self):
        f = self.fams
        self.assertEqual(value(f, "stepd_steps_started", "stepd_steps_started_total"), 10)
        self.assertEqual(value(f, "stepd_steps_ended", "stepd_steps_ended_total",
                               reason="exited"), 5)
        self.assertEqual(value(f, "stepd_steps_ended", "stepd_steps_ended_total",
                               reason="lost"), 1)
        reasons = {dict(k[1])["reason"] for k in f["stepd_steps_ended"][1]}
        self.assertEqual(reasons, {"exited", "signaled", "timeout", "oom", "cancelled",
                                   "rejected", "setup-failed", "lost"})
        self.assertEqual(value(f, "stepd_steps_running"), 3)
        self.assertEqual(value(f, "stepd_steps_queued"), 2)
        self.assertEqual(value(f, "stepd_capacity"), 4)
        self.assertEqual(value(f, "stepd_requests_rejected", "stepd_requests_rejected_total",
                               cause="queue-full"), 7)
        self.assertEqual(value(f, "stepd_agent_up", agent="build-1"), 1)
        self.assertEqual(value(f, "stepd_agent_info", address="[::1]:7443",
                               agent='we"ird\\name\nx'), 1)

    def test_histogram(self):
        f = self.fams
        h = "stepd_step_duration_seconds"
        self.assertEqual(value(f, h, h + "_count"), 3)
        self.assertAlmostEqual(value(f, h, h + "_sum"), 20002.05)
        self.assertEqual(value(f, h, h + "_bucket", le="0.1"), 1)
        self.assertEqual(value(f, h, h + "_bucket", le="5"), 2)
        self.assertEqual(value(f, h, h + "_bucket", le="+Inf"), 3)
        # cumulative and non-decreasing, as Prometheus requires
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in f[h][1].items()
                          if k[0] == h + "_bucket"))
        counts = [v for _le, v in buckets]
        self.assertEqual(counts, sorted(counts))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
