#!/usr/bin/env python3
"""Markdown summary of a harness run for $GITHUB_STEP_SUMMARY.

Usage: ci/summary.py JUNIT_XML [REPORT_MD] [TITLE]

Prints totals and every failing test with the first lines of its failure message from nextest's
JUnit file, then the harness's own Markdown report when REPORT_MD exists. Never fails the job: a
missing JUnit file (e.g. the build failed) is reported as such.
"""
import html
import os
import sys
import xml.etree.ElementTree as ET


def main(argv):
    junit = argv[1] if len(argv) > 1 else "target/nextest/kind/junit.xml"
    report = argv[2] if len(argv) > 2 else "reports/summary.md"
    title = argv[3] if len(argv) > 3 else "Seldon Core v2 conformance"
    out = [f"## {title}", ""]
    if not os.path.exists(junit):
        out.append(f"No JUnit file at `{junit}`: the tests did not run (see the job log for the build or setup failure).")
    else:
        root = ET.parse(junit).getroot()
        cases = root.iter("testcase")
        total = failed = skipped = 0
        failures = []
        for case in cases:
            total += 1
            name = f"{case.get('classname', '')} {case.get('name', '')}".strip()
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                failed += 1
                text = (problem.get("message") or problem.text or "").strip().splitlines()
                failures.append((name, text[:6]))
            elif case.find("skipped") is not None:
                skipped += 1
        passed = total - failed - skipped
        verdict = "✅ all passed" if failed == 0 and total > 0 else f"❌ {failed} failed"
        out.append(f"**{verdict}** — {passed} passed, {failed} failed, {skipped} skipped, {total} total")
        if failures:
            out += ["", "| Test | Failure |", "|---|---|"]
            for name, lines in failures:
                msg = "<br>".join(html.escape(l).replace("|", "\\|") for l in lines) or "(no message)"
                out.append(f"| `{name}` | {msg} |")
    if os.path.exists(report):
        out += ["", "### Harness report", ""]
        with open(report, encoding="utf-8") as f:
            out.append(f.read())
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
