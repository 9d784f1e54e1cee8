"""Run Slither's detectors on contracts/src, offline, through the solc-js stand-in.

Slither (slither-analyzer on PyPI) pins web3<8 and the bridge runs web3 8, so it lives in a
virtualenv of its own (``make analyze`` creates ``.venv-slither`` from
contracts/requirements-slither.txt). It normally downloads native solc with solc-select; here
crytic-compile drives ``contracts/bin/solc`` (solc-js behind a native-solc interface) in
standard-JSON mode, with exactly the compiler input `icr-bridge contracts build` uses, so what
is analysed is what is deployed.

Usage: .venv-slither/bin/python scripts/static_analysis.py [--folder src] [--json FILE]
Prints each finding in the folder's sources (OpenZeppelin's own are left out) with its
detector, impact and confidence; the triage of every finding is in contracts/README.md. Exit
code 1 if a finding's detector is not in the triaged set below, so a new kind of finding is
never missed. The last output line is machine-readable ``name=value`` pairs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections import Counter

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bridge.chain.solidity import CONTRACTS_DIR, SOLC_STAND_IN, standard_json_input  # noqa: E402

#: Detectors whose findings on ICCToken were reviewed; contracts/README.md says why each is
#: accepted (false positive or by design).
TRIAGED = {
    "assembly",  # the mint hot path; each block documented, tests hold it to the Solidity rules
    "timestamp",  # deadlines of signatures and redemption reclaims are timestamps by design
    "pragma",  # OpenZeppelin's own ^0.8.20/^0.8.24 pragmas next to ours; one compiler (0.8.37) builds all
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default="src", choices=["src", "test", "bench"])
    ap.add_argument("--json", help="also write the findings as JSON to this file")
    args = ap.parse_args()
    try:
        from crytic_compile import CryticCompile
        from crytic_compile.platform.solc_standard_json import SolcStandardJson
        from slither import Slither
        from slither.detectors import all_detectors
        from slither.detectors.abstract_detector import AbstractDetector
    except ImportError:
        print("slither is not installed here: run `make analyze` (it creates .venv-slither)", file=sys.stderr)
        return 2

    standard_input = standard_json_input(args.folder)
    # crytic-compile asks for its own outputs (AST, source maps); the rest of the settings stay.
    standard_input["settings"] = {k: v for k, v in standard_input["settings"].items() if k != "outputSelection"}
    os.chdir(CONTRACTS_DIR)
    compilation = CryticCompile(
        SolcStandardJson(standard_input), solc=str(SOLC_STAND_IN), solc_working_dir=str(CONTRACTS_DIR)
    )
    slither = Slither(compilation)
    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        if issubclass(detector, AbstractDetector):
            slither.register_detector(detector)

    findings = []
    for results in slither.run_detectors():
        for result in results:
            files = {e.get("source_mapping", {}).get("filename_relative", "") for e in result["elements"]}
            if not any(f.startswith(f"{args.folder}/") for f in files):
                continue
            findings.append({"check": result["check"], "impact": result["impact"],
                             "confidence": result["confidence"], "description": result["description"].strip()})
    findings.sort(key=lambda f: (["High", "Medium", "Low", "Informational", "Optimization"].index(f["impact"]),
                                 f["check"], f["description"]))
    for finding in findings:
        mark = "" if finding["check"] in TRIAGED else "  [NOT TRIAGED]"
        print(f"[{finding['impact']}/{finding['confidence']}] {finding['check']}{mark}")
        print("    " + finding["description"].splitlines()[0])
    if args.json:
        with open(args.json, "w") as out:
            json.dump(findings, out, indent=2)
    untriaged = [f for f in findings if f["check"] not in TRIAGED]
    by_impact = Counter(f["impact"].lower() for f in findings)
    pairs = {"folder": args.folder, "findings": len(findings), "untriaged": len(untriaged),
             **{impact: by_impact.get(impact, 0) for impact in ("high", "medium", "low", "informational")}}
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 1 if untriaged else 0


if __name__ == "__main__":
    sys.exit(main())
