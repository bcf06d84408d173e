# SPDX-License-Identifier: MIT
"""`stepd new-certificate` (docs/agents.md): files, modes, thumbprint, and
refusals, checked against the openssl command line tool."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

STEPD = os.environ.get("STEPD", "stepd")


def stepd(*args):
    return subprocess.run([STEPD, "new-certificate"] + list(args), capture_output=True,
                          text=True)


def openssl_thumbprint(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return "sha256:" + out.strip().split("=", 1)[1].replace(":", "").lower()


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl tool")
class NewCertificateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="stepd-cert-test-")
        self.cert = os.path.join(self.tmp, "a.crt")
        self.key = os.path.join(self.tmp, "a.key")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_ec_default(self):
        p = stepd("--cert", self.cert, "--key", self.key, "--name", "builder-7", "--days", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        tp = p.stdout.strip()
        self.assertRegex(tp, r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(tp, openssl_thumbprint(self.cert))
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.cert).st_mode), 0o644)
        text = subprocess.run(["openssl", "x509", "-in", self.cert, "-noout", "-text"],
                              check=True, capture_output=True, text=True).stdout
        self.assertIn("CN = builder-7", text)
        self.assertIn("prime256v1", text)
        self.assertIn("CA:FALSE", text)
        # the key belongs to the certificate
        pub_c = subprocess.run(["openssl", "x509", "-in", self.cert, "-noout", "-pubkey"],
                               check=True, capture_output=True).stdout
        pub_k = subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout"],
                               check=True, capture_output=True).stdout
        self.assertEqual(pub_c, pub_k)
        p = stepd("--thumbprint", self.cert)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, tp))

    def test_ed25519(self):
        p = stepd("--cert", self.cert, "--key", self.key, "--type", "ed25519")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), openssl_thumbprint(self.cert))
        text = subprocess.run(["openssl", "x509", "-in", self.cert, "-noout", "-text"],
                              check=True, capture_output=True, text=True).stdout
        self.assertIn("ED25519", text)

    def test_keeps_existing_files_unless_force(self):
        first = stepd("--cert", self.cert, "--key", self.key).stdout.strip()
        p = stepd("--cert", self.cert, "--key", self.key)
        self.assertEqual(p.returncode, 1)
        self.assertIn("File exists (--force replaces it)", p.stderr)
        self.assertEqual(openssl_thumbprint(self.cert), first)
        p = stepd("--cert", self.cert, "--key", self.key, "--force")
        self.assertEqual(p.returncode, 0)
        self.assertNotEqual(p.stdout.strip(), first)
        self.assertEqual(p.stdout.strip(), openssl_thumbprint(self.cert))

    def test_refusals(self):
        cases = [
            ((), "--cert and --key are required"),
            (("--cert", self.cert), "--cert and --key are required"),
            (("--cert", self.cert, "--key", self.cert), "must be different files"),
            (("--cert", self.cert, "--key", self.key, "--type", "rsa"), "--type: 'rsa'"),
            (("--cert", self.cert, "--key", self.key, "--days", "0"), "--days: '0'"),
            (("--cert", self.cert, "--key", self.key, "--days", "x"), "--days: 'x'"),
            (("--cert", self.cert, "--key", self.key, "--name", "n" * 65), "at most 64"),
            (("--cert", self.cert, "--key", self.key, "extra"), "unexpected argument"),
        ]
        for args, want in cases:
            p = stepd(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(want, p.stderr, args)
        # a folder that does not exist: no key is left behind without its certificate
        p = stepd("--cert", "/nonexistent/a.crt", "--key", self.key)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot create /nonexistent/a.crt", p.stderr)
        self.assertFalse(os.path.exists(self.key))
        p = stepd("--thumbprint", self.key + ".missing")
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
