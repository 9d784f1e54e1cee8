"""Mutation testing of ICCToken's hand-written mint paths against the Foundry suite.

Each mutant below changes one line of contracts/src/ICCToken.sol in a hand-written path
(``_multiProofRoot``, ``_markRange``, ``_creditLeaves``, ``_hashLeaves``, the ``_update`` and
``balanceOf`` overrides). For each, a copy of contracts/ (its node_modules linked, not copied)
gets the mutated source and a harness generated from it (scripts/forge_harness.py), and forge
runs there, first the suite expected to catch the mutant and, if it passes, the whole suite. A
mutant is killed when a test fails; one that does not compile counts as an error, not a kill.
Mutants marked ``equivalent`` cannot change behaviour (each says why) and are expected to
survive their suite (the whole suite is not run for them). The working tree is never modified.

Usage: python scripts/mutate_contracts.py [--only NAME ...] [--keep]
Prints one line per mutant and a summary; exit 1 if a non-equivalent mutant survives or a
mutant fails to compile. The last line is ``name=value`` pairs. contracts/README.md records a run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forge_harness import CONTRACTS, HARNESS, SOURCE, generate  # noqa: E402


@dataclass(frozen=True)
class Mutant:
    name: str
    function: str
    original: str
    replacement: str
    suite: str  # the forge test contract expected to kill it (run first)
    equivalent: str = ""  # why it cannot change behaviour, for the mutants expected to survive
    also: tuple[tuple[str, str], ...] = ()  # further (original, replacement) lines of the same mutant

    @property
    def edits(self) -> tuple[tuple[str, str], ...]:
        return ((self.original, self.replacement), *self.also)


#: The multiproof loop has two malformation checks (no step reads a hash not yet computed; the
#: proof is used exactly), and each alone decides: with `count + proof.length - 1` steps, each
#: reading one or two queued values, the reads run ahead of the writes only by never coming back,
#: so a proof that read an uncomputed value ends with proof hashes unread (and a proof used
#: exactly never read ahead). Weakening one check is therefore an equivalent mutant; weakening
#: both is killed.
_ONE_CHECK_DECIDES = ("the other malformation check of the loop rejects the same multiproofs (see the "
                      "comment above MUTANTS)")
_READ_CHECK = ("if gt(read, write) {", "if gt(read, add(write, 0x20)) {")
_PROOF_CHECK = ("if iszero(eq(next, proofEnd)) { malformed := 1 }", "if gt(next, proofEnd) { malformed := 1 }")


MUTANTS = (
    Mutant("read-uncomputed", "_multiProofRoot", *_READ_CHECK, "MultiProofDifferentialTest",
           equivalent=_ONE_CHECK_DECIDES),
    Mutant("proof-not-exhausted", "_multiProofRoot", *_PROOF_CHECK, "MultiProofDifferentialTest",
           equivalent=_ONE_CHECK_DECIDES),
    Mutant("both-checks-weakened", "_multiProofRoot", *_READ_CHECK, "MultiProofDifferentialTest",
           also=(_PROOF_CHECK,)),
    Mutant("flag-word-every-128", "_multiProofRoot", "if iszero(and(i, 0xff)) {", "if iszero(and(i, 0x7f)) {",
           "MultiProofDifferentialTest"),
    Mutant("pair-order", "_multiProofRoot", "let swap := mul(xor(a, b), lt(b, a))",
           "let swap := mul(xor(a, b), gt(b, a))", "MultiProofDifferentialTest"),
    Mutant("mask-bit-offset", "_markRange", "mask = ((uint256(1) << span) - 1) << (index & 0xff);",
           "mask = ((uint256(1) << span) - 1) << (index & 0x7f);", "MintedBitmapTest"),
    Mutant("word-end", "_markRange", "uint256 wordEnd = (wordIndex + 1) << 8;",
           "uint256 wordEnd = (wordIndex + 2) << 8;", "MintedBitmapTest"),
    Mutant("minted-check-one-leaf", "_markRange", "if (minted != 0) revert LeafAlreadyMinted",
           "if (minted & (minted - 1) != 0) revert LeafAlreadyMinted", "MintPropertiesTest"),
    Mutant("last-serial", "_hashLeaves", "mstore(add(leaf, 0xc0), sub(add(first, amount), 1))",
           "mstore(add(leaf, 0xc0), add(first, amount))", "MintPropertiesTest"),
    Mutant("stale-balance-slot", "_creditLeaves", "if iszero(eq(classIndex, innerIndex)) {",
           "if eq(innerIndex, not(0)) {", "MintPropertiesTest"),
    Mutant("supply-first-class", "_creditLeaves", "_supply[classIds[k]] += amount;",
           "_supply[classIds[0]] += amount;", "MintPropertiesTest"),
    Mutant("certificates-move", "_update", "if (id & CERTIFICATE_FLAG != 0) revert CertificateNonTransferable(id);",
           "", "TokenInvariantsTest"),
    Mutant("overdraft-by-one", "_update", "if (fromBalance < value) revert ERC1155InsufficientBalance",
           "if (fromBalance + 1 < value) revert ERC1155InsufficientBalance", "TokenInvariantsTest"),
    Mutant("burn-keeps-total", "_update", "burnedAll += value;", "", "TokenInvariantsTest"),
    Mutant("balance-of-class", "balanceOf", "return _balanceOf[id][account];",
           "return _balanceOf[id & ~CERTIFICATE_FLAG][account];", "TokenInvariantsTest"),
    Mutant("uses-ignored", "_retireTokens", "if ((info.authorizedUses >> purpose) & 1 == 0) revert",
           "if ((info.authorizedUses >> purpose) & 1 == 2) revert", "TokenInvariantsTest"),
)


def mutate(source: str, mutant: Mutant) -> str:
    for original, replacement in mutant.edits:
        if source.count(original) != 1:
            raise SystemExit(f"mutant {mutant.name}: {original!r} must occur exactly once in {SOURCE} (found "
                             f"{source.count(original)}): update the mutant list")
        source = source.replace(original, replacement)
    return source


def prepare(workdir: Path) -> None:
    """A copy of contracts/ to mutate: sources, tests, config; node_modules linked."""
    for name in ("foundry.toml", "src", "test", "bin"):
        source = CONTRACTS / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=shutil.ignore_patterns("generated"))
        else:
            shutil.copy2(source, workdir / name)
    os.symlink(CONTRACTS / "node_modules", workdir / "node_modules")


def forge_binary() -> Path:
    """The platform binary npm installed (its node_modules/.bin wrapper exits 0 when tests fail)."""
    found = sorted(CONTRACTS.glob("node_modules/@foundry-rs/forge-*/bin/forge"))
    if not found:
        raise SystemExit("forge is not installed: run `make setup`")
    return found[0]


def forge(workdir: Path, *args: str) -> tuple[str, str]:
    """('pass' | 'fail' | 'error', first failing test or error line)."""
    done = subprocess.run([str(forge_binary()), "test", "--fail-fast", *args],
                          cwd=workdir, capture_output=True, text=True)
    output = done.stdout + done.stderr
    (workdir / "forge-output.log").open("a").write(output)
    if "Compiler run failed" in output or "Error (" in output:
        first = next((line for line in output.splitlines() if line.startswith("Error")), "compile error")
        return "error", first
    if done.returncode == 0 and "[FAIL" not in output:
        return "pass", ""
    failed = re.search(r"^\[FAIL.*\] (\w+)\(", output, re.MULTILINE)  # the failure message may hold ']'
    return "fail", failed.group(1) if failed else "a failing test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only these mutants (by name)")
    parser.add_argument("--keep", action="store_true", help="keep the working copy and print its path")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    original = (CONTRACTS / SOURCE).read_text()
    for mutant in mutants:
        mutate(original, mutant)  # every mutant applies before any runs
    workdir = Path(tempfile.mkdtemp(prefix="icc-mutants-"))
    prepare(workdir)
    killed = survived = errors = equivalent = 0
    started = time.monotonic()
    try:
        for mutant in mutants:
            t0 = time.monotonic()
            mutated = mutate(original, mutant)
            (workdir / SOURCE).write_text(mutated)
            (workdir / HARNESS).parent.mkdir(parents=True, exist_ok=True)
            (workdir / HARNESS).write_text(generate(mutated))
            verdict, detail = forge(workdir, "--match-contract", mutant.suite)
            if verdict == "pass" and not mutant.equivalent:
                verdict, detail = forge(workdir)  # any other suite may kill it
            seconds = time.monotonic() - t0
            if verdict == "fail":
                killed += 1
                outcome = f"killed by {detail}"
            elif verdict == "error":
                errors += 1
                outcome = f"DOES NOT COMPILE: {detail}"
            elif mutant.equivalent:
                equivalent += 1
                outcome = f"survived, equivalent: {mutant.equivalent}"
            else:
                survived += 1
                outcome = "SURVIVED"
            print(f"{mutant.name:24} {mutant.function:16} {seconds:6.0f}s  {outcome}", flush=True)
    finally:
        if args.keep:
            print(f"working copy: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - started
    print(f"mutants={len(mutants)} killed={killed} equivalent={equivalent} survived={survived} "
          f"errors={errors} seconds={total:.0f}")
    return 0 if survived == 0 and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
