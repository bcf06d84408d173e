#!/usr/bin/env python3
"""Sum test cases over meson's test log: Check runners print
"NN%: Checks: N, Failures: F, Errors: E"; Python unittest prints "Ran N tests"
and "OK"/"FAILED (failures=F, errors=E, skipped=S)". A runner that crashed
before it could count counts as one failed case. Prints the closing line
"N passed, N failed, N skipped" and exits 1 if anything failed."""
import json
import re
import sys


def count(entry):
    out = (entry.get("stdout", "") or "") + "\n" + (entry.get("stderr", "") or "")
    ok = entry.get("result") in ("OK", "SKIP", "EXPECTEDFAIL")
    m = re.findall(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", out)
    if m:
        n = sum(int(a) for a, _, _ in m)
        f = sum(int(b) + int(c) for _, b, c in m)
        return n - f, f, 0
    ran = re.findall(r"^Ran (\d+) tests?", out, re.M)
    if ran:
        n = sum(int(x) for x in ran)
        f = sum(int(x) for x in re.findall(r"(?:failures|errors)=(\d+)", out))
        s = sum(int(x) for x in re.findall(r"skipped=(\d+)", out))
        return n - f - s, f if (f or ok) else max(f, 1), s
    return (1, 0, 0) if ok else (0, 1, 0)


def main(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            p, fl, s = count(json.loads(line))
            passed += p
            failed += fl
            skipped += s
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
