"""scripts/forge_harness.py: the Foundry harness is ICCToken's source verbatim, renamed, with
wrappers appended; a source it cannot read refuses loudly; --check finds a stale harness."""

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SPEC = importlib.util.spec_from_file_location("forge_harness", REPO / "scripts" / "forge_harness.py")
forge_harness = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(forge_harness)

SOURCE = (REPO / "contracts" / "src" / "ICCToken.sol").read_text()


def test_harness_is_the_source_renamed_with_wrappers_appended():
    harness = forge_harness.generate(SOURCE)
    assert "contract ICCTokenHarness is " in harness and "contract ICCToken is " not in harness
    body = SOURCE.rstrip()[:-1].replace("contract ICCToken is ", "contract ICCTokenHarness is ", 1).rstrip()
    assert body in harness  # every line of the token, unchanged
    wrappers = harness[harness.index(body) + len(body):]
    for private in ("_multiProofRoot(", "_hashLeaves(", "_markRange(", "_lowestBit("):
        assert private in SOURCE and private in wrappers
    assert harness.endswith("}\n")


@pytest.mark.parametrize(
    "source",
    [
        SOURCE.replace("contract ICCToken is ", "contract Renamed is "),
        SOURCE + "\ncontract ICCToken is ERC1155 {}\n",
        SOURCE.rstrip()[:-1],
    ],
    ids=["no-contract", "two-contracts", "no-closing-brace"],
)
def test_unreadable_source_is_refused(source):
    with pytest.raises(forge_harness.HarnessError):
        forge_harness.generate(source)


def test_check_finds_a_stale_harness(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    shutil.copy(REPO / "contracts" / "src" / "ICCToken.sol", tmp_path / "src" / "ICCToken.sol")
    assert forge_harness.main(["--contracts", str(tmp_path), "--check"]) == 1
    assert forge_harness.main(["--contracts", str(tmp_path)]) == 0
    assert forge_harness.main(["--contracts", str(tmp_path), "--check"]) == 0
    source = tmp_path / "src" / "ICCToken.sol"
    source.write_text(source.read_text().replace("uint256 public retirementCount;", "uint256 public retirements;"))
    assert forge_harness.main(["--contracts", str(tmp_path), "--check"]) == 1
    assert "differs" in capsys.readouterr().err
