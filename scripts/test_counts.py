"""Count what the reliability tests exercise, from a real run, and (with --write-readme) put the
counts into README.md's "What is tested" section, between its marker comments.

It runs pytest on the reliability suite, the crash-safety and anvil tests (or the paths
given), with ``ICR_TEST_COUNTS`` set so the tests record what they did (operations, crashes
injected, reorganization depths, fuzz cases: tests/reliability/counts.py), reads pytest's
JUnit XML for the outcomes and the parametrized crash points, and collects the whole suite
for its size. Nothing is estimated: every figure comes from this run.

Usage: python scripts/test_counts.py [--examples N] [--write-readme] [PYTEST_PATH ...]
The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.reliability.counts import COUNTS_ENV, crash_points  # noqa: E402

DEFAULT_PATHS = ["tests/reliability", "tests/bridge/engine/test_crash_safety.py", "tests/bridge/chain/test_anvil.py",
                 "tests/bridge/engine/test_revocation.py"]
BEGIN, END = "<!-- test-counts:begin -->", "<!-- test-counts:end -->"


def run_pytest(paths: list[str], env: dict[str, str], junit: Path) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *paths]
    print("$", " ".join(command), flush=True)
    return subprocess.call(command, cwd=REPO, env=env)


def collect_suite() -> Counter:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=REPO, capture_output=True, text=True).stdout
    per_dir: Counter = Counter()
    for line in out.splitlines():
        if "::" in line:
            parts = line.split("::", 1)[0].split("/")
            per_dir["/".join(parts[:2]) if len(parts) > 2 else parts[0]] += 1
    return per_dir


def outcomes(junit: Path) -> tuple[Counter, list[tuple[str, str, str]]]:
    tree = ET.parse(junit)
    totals: Counter = Counter()
    cases = []
    for case in tree.iter("testcase"):
        if case.find("skipped") is not None:
            skipped = case.find("skipped")
            outcome = "xfailed" if "xfail" in (skipped.get("type", "") + skipped.get("message", "")) else "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        else:
            outcome = "passed"
        totals[outcome] += 1
        cases.append((case.get("classname", ""), case.get("name", ""), outcome))
    return totals, cases


def section(counts: dict, totals: Counter, cases: list, suite: Counter, env_sizes: dict[str, str]) -> str:
    ops = counts.get("operations", {})
    crashes = counts.get("crashes injected", {})
    depths = counts.get("reorg depths (blocks)", {})
    fuzz = counts.get("fuzz cases", {})
    refused = counts.get("refused (changed nothing)", {})
    examples = counts.get("examples", {})
    points = crash_points()
    crash_cases = [n for c, n, o in cases if "test_crash_and_restart" in n and o == "passed"]
    crash_params = sorted({re.sub(r"^.*\[(.*)\]$", r"\1", n) for n in crash_cases})
    reorg_cases = [n for c, n, o in cases if "reorg" in n and o == "passed"]
    fired = sorted({name.split("#")[0] for name in crashes} | {p.split("#")[0] for p in crash_params})
    lines = [
        BEGIN,
        "",
        f"Counted by `scripts/test_counts.py` from one run ({', '.join(f'{k}={v}' for k, v in env_sizes.items())}); "
        "regenerate with `make test-counts`.",
        "",
        f"- **Suite**: {sum(suite.values()):,} tests collected ("
        + ", ".join(f"{d} {n}" for d, n in sorted(suite.items())) + "). "
        f"This run: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped, "
        f"{totals['xfailed']} xfailed (known bugs, strict).",
        "- **Stateful histories** (tests/reliability/test_stateful.py): "
        + ", ".join(f"{n} on {db}" for db, n in sorted(examples.items()))
        + f"; {sum(ops.values()):,} operations: "
        + ", ".join(f"{name} {n}" for name, n in sorted(ops.items(), key=lambda kv: -kv[1])) + ".",
        "- **Refused inputs that changed nothing**: "
        + (", ".join(f"{name} {n}" for name, n in sorted(refused.items(), key=lambda kv: -kv[1])) or "none") + ".",
        f"- **Crash points**: {len(points)} in the code ({', '.join(points)}); "
        f"{len(fired)} fired in this run ({sum(crashes.values())} crashes injected into random histories, "
        f"{len(crash_params)} fixed crash-and-restart scenarios in tests/bridge/engine/test_crash_safety.py).",
        f"- **Reorganizations**: {sum(depths.values())} in random histories, depths (blocks: times) "
        + (", ".join(f"{d}: {n}" for d, n in sorted(depths.items(), key=lambda kv: int(kv[0]))) or "none")
        + f"; {len(reorg_cases)} anvil reorg scenarios ({', '.join(reorg_cases) or 'none'}).",
        "- **Fuzz cases**: " + fuzz_summary(fuzz) + ".",
        *load_summary(counts.get("concurrent load", {})),
        "",
        END,
    ]
    return "\n".join(lines)


def load_summary(load: dict[str, int]) -> list[str]:
    """The bullet of tests/reliability/test_concurrent_load.py (nothing when it did not run)."""
    if not load:
        return []

    def group(prefix: str) -> dict[str, int]:
        return {k.removeprefix(prefix): v for k, v in sorted(load.items()) if k.startswith(prefix)}

    def listed(items: dict[str, int], unit: dict[str, int] | None = None) -> str:
        return ", ".join(f"{k} {v:,}" + (f" ({unit[k]:,} t)" if unit and k in unit else "")
                         for k, v in sorted(items.items(), key=lambda kv: -kv[1])) or "none"

    answers = group("HTTP answered ")
    answered = ", ".join(f"{code}: {n:,}" for code, n in sorted(answers.items()))
    server_errors = sum(v for k, v in answers.items() if k.startswith("5"))
    return [
        "- **Concurrent load** (tests/reliability/test_concurrent_load.py, PostgreSQL + anvil, all at once): "
        f"{load.get('HTTP requests', 0):,} HTTP requests to a uvicorn server ({load.get('HTTP writes', 0):,} writes, "
        f"{load.get('HTTP reads', 0):,} reads, {load.get('HTTP racing writes', 0):,} racing writes in "
        f"{load.get('race rounds', 0):,} rounds for the same credits, one winner each; losers: "
        f"{listed(group('race losers: '))}); answered {answered}"
        + ("" if server_errors else ", no 5xx")
        + f"; {load.get('engine cycles', 0):,} engine cycles by two workers and a final quiet run "
        f"({load.get('batches built', 0):,} "
        f"batches, {load.get('leaves minted', 0):,} leaves minted in {load.get('mint transactions', 0):,} "
        f"transactions; events applied: {listed(group('events applied: '))}); on-chain: "
        f"{listed(group('on-chain: '), group('on-chain tonnes: '))}.",
    ]


def fuzz_summary(fuzz: dict[str, int]) -> str:
    parts = []
    if "API operations" in fuzz:
        api = []
        for mode in ("positive", "negative"):
            refused = {k.rsplit(" ", 1)[1]: v for k, v in fuzz.items() if k.startswith(f"API {mode}: refused with")}
            detail = ", ".join(f"{code}: {n:,}" for code, n in sorted(refused.items()))
            api.append(f"{fuzz.get(f'API {mode}', 0):,} {mode} cases (answered 4xx: {detail or 'none'})")
        parts.append(f"HTTP API, {fuzz['API operations']} operations from the OpenAPI document: "
                     + "; ".join(api) + "; no 5xx")
    for name in sorted(k for k in fuzz if not k.startswith("API")):
        parts.append(f"{name} {fuzz[name]:,}")
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    ap.add_argument("--examples", type=int, default=None,
                    help="stateful examples per database (ICR_STATEFUL_EXAMPLES; the test's default otherwise)")
    ap.add_argument("--write-readme", action="store_true", help="replace the section in README.md")
    args = ap.parse_args()
    env = dict(os.environ)
    sizes = {k: env[k] for k in ("ICR_STATEFUL_EXAMPLES", "ICR_STATEFUL_STEPS", "ICR_FUZZ_EXAMPLES",
                                 "ICR_FUZZ_API_EXAMPLES") if k in env}
    if args.examples is not None:
        env["ICR_STATEFUL_EXAMPLES"] = sizes["ICR_STATEFUL_EXAMPLES"] = str(args.examples)
    if not sizes:
        sizes["sizes"] = "the tests' defaults"
    with tempfile.TemporaryDirectory() as tmp:
        counts_file, junit = Path(tmp) / "counts.json", Path(tmp) / "junit.xml"
        env[COUNTS_ENV] = str(counts_file)
        code = run_pytest(args.paths, env, junit)
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
        totals, cases = outcomes(junit)
    suite = collect_suite()
    text = section(counts, totals, cases, suite, sizes)
    print(text)
    if args.write_readme:
        readme = REPO / "README.md"
        content = readme.read_text()
        if BEGIN in content and END in content:
            content = content[: content.index(BEGIN)] + text + content[content.index(END) + len(END):]
        else:
            content = content.rstrip() + "\n\n## What is tested\n\n" + text + "\n"
        readme.write_text(content)
        print(f"wrote {readme}")
    ops = counts.get("operations", {})
    print(f"tests_passed={totals['passed']} tests_failed={totals['failed']} operations={sum(ops.values())} "
          f"crashes={sum(counts.get('crashes injected', {}).values())} crash_points={len(crash_points())} "
          f"reorgs={sum(counts.get('reorg depths (blocks)', {}).values())} "
          f"fuzz_cases={sum(v for k, v in counts.get('fuzz cases', {}).items() if ':' not in k and k != 'API operations')}")
    sys.exit(code)


if __name__ == "__main__":
    main()
