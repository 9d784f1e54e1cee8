"""Tests for bridge.merkle: OZ StandardMerkleTree / MerkleProof compatibility."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak as ref_keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.merkle.hashing import hash_pair
from bridge.merkle.leaves import standard_leaf_hash
from bridge.merkle.proofs import MultiProof, process_multi_proof, process_proof, verify_multi_proof, verify_proof
from bridge.merkle.tree import StandardMerkleTree

REPO = Path(__file__).resolve().parents[3]
OZ_SCRIPT = Path(__file__).with_name("merkle_oz_check.mjs")
OZ_PKG = REPO / "contracts" / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"

# (batchId, leafIndex, classId, recipient, amount, firstSerial, lastSerial)
BRIDGE_ENC = ["uint256", "uint256", "uint256", "address", "uint256", "uint256", "uint256"]
ADDR_A = "0x00000000000000000000000000000000000000aa"
ADDR_B = "0x00000000000000000000000000000000000000bb"
SMALL_BRIDGE = [
    (1, 0, 7, ADDR_A, 100, 1000, 1099),
    (1, 1, 7, ADDR_B, 5, 1100, 1104),
    (1, 2, 8, ADDR_A, 1, 1105, 1105),
]


def bridge_values(n: int, seed: int = 0, batch: int = 3) -> list[tuple]:
    rng = random.Random(seed)
    out, serial = [], 10**9
    for i in range(n):
        amount = rng.randint(1, 10**6)
        addr = "0x" + rng.randbytes(20).hex()
        if rng.random() < 0.3:  # some mixed-case, non-checksummed spellings
            addr = "0x" + "".join(c.upper() if rng.random() < 0.5 else c for c in addr[2:])
        out.append((batch, i, rng.randrange(2**256), addr, amount, serial, serial + amount - 1))
        serial += amount
    return out


def norm_json(v: Any) -> Any:
    """Canonical JSON-ish form for comparing values across Python/JS."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, str) and v[:2].lower() == "0x":
        return v.lower()
    if isinstance(v, (list, tuple)):
        return [norm_json(x) for x in v]
    return v


# --------------------------------------------------------------------------- reference


def ref_leaf(enc: list[str], value: Any) -> bytes:
    return ref_keccak(ref_keccak(eth_abi.encode(enc, list(value))))


def ref_tree(enc: list[str], values: list[Any], sort_leaves: bool) -> list[bytes]:
    """Straight port of the JS makeMerkleTree + sortLeaves, via eth_abi/eth_hash."""
    leaves = [ref_leaf(enc, v) for v in values]
    if sort_leaves:
        leaves = sorted(leaves)
    tree: list[bytes] = [b""] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        a, b = sorted([tree[2 * i + 1], tree[2 * i + 2]])
        tree[i] = ref_keccak(a + b)
    return tree


# --------------------------------------------------------------------------- known trees


def test_readme_example_root() -> None:
    # Example from the @openzeppelin/merkle-tree README; root computed by the npm lib 1.0.8.
    values = [
        ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
        ["0x2222222222222222222222222222222222222222", 2500000000000000000],
    ]
    t = StandardMerkleTree.of(values, ["address", "uint256"])
    assert t.root == "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"
    assert t.get_proof(0) == ["0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"]
    assert t.dump()["values"] == [
        {"value": ["0x1111111111111111111111111111111111111111", "5000000000000000000"], "treeIndex": 1},
        {"value": ["0x2222222222222222222222222222222222222222", "2500000000000000000"], "treeIndex": 2},
    ]


def test_small_bridge_tree_unsorted() -> None:
    # Expected values produced by @openzeppelin/merkle-tree 1.0.8 with sortLeaves: false.
    t = StandardMerkleTree.of(SMALL_BRIDGE, BRIDGE_ENC, sort_leaves=False)
    assert t.root == "0xbb01a94aba35ce58cf32e966740f47306896fc2b72ec6e62a02fc8ee468a8c8f"
    assert t.tree == [
        "0xbb01a94aba35ce58cf32e966740f47306896fc2b72ec6e62a02fc8ee468a8c8f",
        "0x38cc2f14973aee841b30a150b3685dac3a31ae0f4d7248968530584b7cd070f2",
        "0xef384d3d0c0a837385aa55d67a2ce08760fb10d6122b28ad798749ce80a04995",
        "0xf1e7cd8adcea3985a34e07d2273f987e08f1cf2423cefbab86179baee0be2771",
        "0x9fc97e43ca5be985114a037b04714a208b87b579d8c0da31fd6dd038fd2a70ca",
    ]
    assert t.get_proof(0) == [
        "0xf1e7cd8adcea3985a34e07d2273f987e08f1cf2423cefbab86179baee0be2771",
        "0xef384d3d0c0a837385aa55d67a2ce08760fb10d6122b28ad798749ce80a04995",
    ]
    assert t.get_proof(2) == ["0x38cc2f14973aee841b30a150b3685dac3a31ae0f4d7248968530584b7cd070f2"]
    mp = t.get_multi_proof([0, 1])
    assert mp.leaves == [SMALL_BRIDGE[0], SMALL_BRIDGE[1]]
    assert mp.proof == ["0xef384d3d0c0a837385aa55d67a2ce08760fb10d6122b28ad798749ce80a04995"]
    assert mp.proof_flags == [True, False]
    mp = t.get_multi_proof([2, 0])
    assert mp.leaves == [SMALL_BRIDGE[0], SMALL_BRIDGE[2]]
    assert mp.proof == ["0xf1e7cd8adcea3985a34e07d2273f987e08f1cf2423cefbab86179baee0be2771"]
    assert mp.proof_flags == [False, True]


def test_small_bridge_tree_sorted() -> None:
    t = StandardMerkleTree.of(SMALL_BRIDGE, BRIDGE_ENC)  # sort_leaves defaults to True
    assert t.root == "0xeace9e4bc4f66f237e257f2b6e95190265814a3322326ab06dfbd9b05ea5820c"
    assert t.get_proof(1) == ["0xab9729248bf4b2c118b526485626875318055f746b0900f75b094f8b2fbefc13"]
    mp = t.get_multi_proof([0, 1])
    assert mp.leaves == [SMALL_BRIDGE[0], SMALL_BRIDGE[1]]
    assert mp.proof_flags == [False, True]


def test_leaf_hash_matches_solidity_encoding() -> None:
    v = SMALL_BRIDGE[1]
    expected = "0x" + ref_leaf(BRIDGE_ENC, v).hex()
    assert standard_leaf_hash(BRIDGE_ENC, v) == expected
    t = StandardMerkleTree.of(SMALL_BRIDGE, BRIDGE_ENC, sort_leaves=False)
    assert t.leaf_hash(v) == expected
    assert t.tree[t.tree_index(1)] == expected


def test_single_leaf_tree() -> None:
    t = StandardMerkleTree.of([SMALL_BRIDGE[0]], BRIDGE_ENC, sort_leaves=False)
    assert t.root == standard_leaf_hash(BRIDGE_ENC, SMALL_BRIDGE[0])
    assert t.get_proof(0) == []
    assert t.verify(0, [])
    mp = t.get_multi_proof([0])
    assert mp == MultiProof(leaves=[SMALL_BRIDGE[0]], proof=[], proof_flags=[])
    assert t.verify_multi_proof(mp)


@pytest.mark.parametrize(
    "enc,values",
    [
        (BRIDGE_ENC, bridge_values(37)),
        (["address", "uint256"], [["0x" + f"{i:040x}", i * 10**18] for i in range(1, 20)]),
        (
            ["bool", "bytes32", "int256", "uint8", "bytes4", "address"],
            [[i % 2 == 0, bytes([i]) * 32, -(i**9), i, bytes([i, 1, 2, 3]), "0x" + f"{i:040x}"] for i in range(11)],
        ),
        (  # dynamic types go through eth_abi.encode
            ["string", "bytes", "uint256[]", "(address,uint64)"],
            [[f"leaf {i}", bytes(range(i)), list(range(i)), ("0x" + f"{i:040x}", i)] for i in range(9)],
        ),
    ],
)
@pytest.mark.parametrize("sort_leaves", [True, False])
def test_matches_reference_implementation(enc: list[str], values: list[Any], sort_leaves: bool) -> None:
    t = StandardMerkleTree.of(values, enc, sort_leaves=sort_leaves)
    # eth_abi rejects mixed-case addresses with a bad checksum; lower-case them for the reference
    ref_vals = [[x.lower() if isinstance(x, str) and x.startswith("0x") else x for x in v] for v in values]
    assert t.tree == ["0x" + h.hex() for h in ref_tree(enc, ref_vals, sort_leaves)]
    for i in range(len(values)):
        assert t.verify(i, t.get_proof(i))


def test_value_representations_are_equivalent() -> None:
    as_ints = [(1, 2, 3, ADDR_A.upper().replace("0X", "0x"), 4, 5, 6)]
    as_strs = [["1", "0x2", "3", ADDR_A, "4", "5", "6"]]
    assert StandardMerkleTree.of(as_ints, BRIDGE_ENC).root == StandardMerkleTree.of(as_strs, BRIDGE_ENC).root
    t = StandardMerkleTree.of(as_ints + [(9, 9, 9, ADDR_B, 9, 9, 9)], BRIDGE_ENC, sort_leaves=False)
    assert t.get_proof(as_strs[0]) == t.get_proof(0)  # lookup by value, any spelling


@pytest.mark.parametrize(
    "bad",
    [
        (1, 2, 3, ADDR_A, -1, 5, 6),  # negative uint
        (1, 2, 3, ADDR_A, 2**256, 5, 6),  # overflow
        (1, 2, 3, ADDR_A, True, 5, 6),  # bool is not an integer
        (1, 2, 3, ADDR_A, "1_000", 5, 6),  # not a JS-parsable number
        (1, 2, 3, ADDR_A, 1.5, 5, 6),
        (1, 2, 3, ADDR_A[:-1], 4, 5, 6),  # short address
        (1, 2, 3, ADDR_A[:-1] + "g", 4, 5, 6),
        (1, 2, 3, ADDR_A[:-2] + " a", 4, 5, 6),  # whitespace (bytes.fromhex would skip it)
        (1, 2, 3, "0x0x" + " " * 22 + "0" * 16, 4, 5, 6),
        (1, 2, 3, ADDR_A, 4, 5),  # wrong arity
        "not a leaf",
    ],
)
def test_rejects_bad_values(bad: Any) -> None:
    good = list(SMALL_BRIDGE)
    with pytest.raises(ValueError):
        StandardMerkleTree.of(good + [bad] + good, BRIDGE_ENC)


def test_rejects_bad_encodings_and_empty() -> None:
    for enc in (["uint7"], ["bytes33"], ["fixed128x18"], [], "uint256"):
        with pytest.raises(ValueError):
            StandardMerkleTree.of([[1]], enc)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StandardMerkleTree.of([], BRIDGE_ENC)
    with pytest.raises(ValueError):
        StandardMerkleTree.of([[256]], ["uint8"])


# --------------------------------------------------------------------------- proofs


def test_tampered_proofs_fail() -> None:
    values = bridge_values(20)
    t = StandardMerkleTree.of(values, BRIDGE_ENC, sort_leaves=False)
    proof = t.get_proof(5)
    leaf = t.leaf_hash(values[5])
    assert verify_proof(t.root, leaf, proof)
    assert process_proof(leaf, proof) == t.root
    flipped = proof[:2] + [proof[2][:-1] + ("0" if proof[2][-1] != "0" else "1")] + proof[3:]
    assert not verify_proof(t.root, leaf, flipped)
    assert not verify_proof(t.root, leaf, proof[:-1])
    assert not verify_proof(t.root, leaf, proof[::-1])
    assert not t.verify(values[5], t.get_proof(6))
    forged = list(values[5])
    forged[4] += 1  # amount
    assert not t.verify(forged, proof)
    with pytest.raises(ValueError):
        t.get_proof(forged)  # not in tree

    mp = t.get_multi_proof(list(range(4, 9)))
    assert t.verify_multi_proof(mp)
    assert not t.verify_multi_proof(MultiProof(mp.leaves[:-1] + [forged], mp.proof, mp.proof_flags))
    assert not t.verify_multi_proof(MultiProof(mp.leaves[::-1], mp.proof, mp.proof_flags))
    assert not t.verify_multi_proof(MultiProof(mp.leaves, mp.proof, [not f for f in mp.proof_flags]))
    assert not t.verify_multi_proof(MultiProof(mp.leaves, mp.proof[1:], mp.proof_flags))


def test_empty_multiproof_rejected() -> None:
    t = StandardMerkleTree.of(SMALL_BRIDGE, BRIDGE_ENC, sort_leaves=False)
    with pytest.raises(ValueError, match="empty multiproof"):
        t.get_multi_proof([])
    # Solidity processMultiProof returns proof[0] for no leaves and no flags: that
    # "verifies" against any root put in proof[0], so verify_multi_proof refuses it.
    assert process_multi_proof([], [t.root], []) == t.root
    assert not verify_multi_proof(t.root, [], [t.root], [])
    assert not t.verify_multi_proof(MultiProof([], [t.root], []))


def test_multiproof_errors() -> None:
    t = StandardMerkleTree.of(SMALL_BRIDGE, BRIDGE_ENC, sort_leaves=False)
    with pytest.raises(ValueError, match="duplicated"):
        t.get_multi_proof([1, 1])
    with pytest.raises(IndexError):
        t.get_multi_proof([3])
    with pytest.raises(IndexError):
        t.get_proof(-1)
    leaves = [t.leaf_hash(v) for v in SMALL_BRIDGE]
    with pytest.raises(ValueError):
        process_multi_proof(leaves, [], [True])  # leaves + proof != flags + 1


def test_hash_pair_is_commutative() -> None:
    a, b = "0x" + "11" * 32, "0x" + "22" * 32
    assert hash_pair(a, b) == hash_pair(b, a) == "0x" + ref_keccak(bytes.fromhex("11" * 32 + "22" * 32)).hex()


def test_contiguous_multiproof_is_small_when_unsorted() -> None:
    values = bridge_values(1024)
    unsorted = StandardMerkleTree.of(values, BRIDGE_ENC, sort_leaves=False)
    mp = unsorted.get_multi_proof(list(range(256, 512)))  # an aligned subtree
    assert len(mp.proof) == 2 and unsorted.verify_multi_proof(mp)
    assert [v[1] for v in mp.leaves] == list(range(256, 512))  # value order for contiguous runs
    sorted_mp = StandardMerkleTree.of(values, BRIDGE_ENC).get_multi_proof(list(range(256, 512)))
    assert len(sorted_mp.proof) > 50


# --------------------------------------------------------------------------- dump / load


def test_dump_load_roundtrip_python() -> None:
    values = bridge_values(50)
    t = StandardMerkleTree.of(values, BRIDGE_ENC, sort_leaves=False)
    dump = t.dump()
    assert set(dump) == {"format", "leafEncoding", "tree", "values"}
    assert dump["format"] == "standard-v1" and dump["leafEncoding"] == BRIDGE_ENC
    assert all(isinstance(x, str) for e in dump["values"] for x in e["value"])  # JSON/bigint-safe
    t2 = StandardMerkleTree.load(json.loads(json.dumps(dump)))
    assert t2.root == t.root and t2.tree == t.tree
    assert t2.values == [tuple(v) for v in values]  # ints back as ints
    assert [t2.get_proof(i) for i in range(50)] == [t.get_proof(i) for i in range(50)]
    assert t2.get_multi_proof([3, 4, 5]) == t.get_multi_proof([3, 4, 5])


def test_load_accepts_other_spellings() -> None:
    t = StandardMerkleTree.of(bridge_values(8), BRIDGE_ENC, sort_leaves=False)
    d = t.dump()
    d["tree"] = [h.upper().replace("0X", "0x") for h in d["tree"]]
    d["values"][0]["value"] = [int(x) if i != 3 else x.upper().replace("0X", "0x") for i, x in enumerate(d["values"][0]["value"])]
    d["values"][1]["value"][4] = hex(int(d["values"][1]["value"][4]))
    assert StandardMerkleTree.load(d).root == t.root


def test_load_rejects_tampering() -> None:
    dump = StandardMerkleTree.of(bridge_values(8), BRIDGE_ENC, sort_leaves=False).dump()

    def bad(mutate: Any) -> None:
        d = json.loads(json.dumps(dump))
        mutate(d)
        with pytest.raises(ValueError):
            StandardMerkleTree.load(d)

    bad(lambda d: d.update(format="standard-v2"))
    bad(lambda d: d.pop("leafEncoding"))
    bad(lambda d: d["values"][3]["value"].__setitem__(4, "1"))
    bad(lambda d: d["tree"].__setitem__(1, "0x" + "00" * 32))
    bad(lambda d: d["tree"].__setitem__(0, d["tree"][1]))
    bad(lambda d: d["tree"].__setitem__(2, d["tree"][2][:-2] + " " + d["tree"][2][-1]))
    bad(lambda d: d["values"][1]["value"].__setitem__(3, d["values"][1]["value"][3][:-2] + " a"))
    bad(lambda d: d["values"][3].__setitem__("treeIndex", d["values"][4]["treeIndex"]))
    bad(lambda d: d["values"].pop())
    bad(lambda d: d.update(leafEncoding=BRIDGE_ENC[:-1]))
    bad(lambda d: d.update(leafEncoding=["uint256", "uint256", "uint8"] + BRIDGE_ENC[3:]))
    # NB: ["uint256"] * 7 would load: an address encodes exactly like the same uint256.


# --------------------------------------------------------------------------- properties


leaf_strategy = st.tuples(
    st.integers(0, 2**64),
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**256 - 1),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**256 - 1),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(leaf_strategy, min_size=1, max_size=64), sort_leaves=st.booleans(), data=st.data())
def test_every_proof_verifies(values: list[tuple], sort_leaves: bool, data: Any) -> None:
    t = StandardMerkleTree.of(values, BRIDGE_ENC, sort_leaves=sort_leaves)
    for i, v in enumerate(values):
        proof = t.get_proof(i)
        assert verify_proof(t.root, t.leaf_hash(v), proof)
        assert t.verify(v, proof)
    subset = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, unique=True))
    mp = t.get_multi_proof(subset)
    assert sorted(map(tuple, mp.leaves)) == sorted(tuple(values[i]) for i in subset)
    assert t.verify_multi_proof(mp)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(leaf_strategy, min_size=1, max_size=40))
def test_fast_encoder_matches_eth_abi(values: list[tuple]) -> None:
    t = StandardMerkleTree.of(values, BRIDGE_ENC, sort_leaves=False)
    assert t.tree[len(values) - 1 :][::-1] == ["0x" + ref_leaf(BRIDGE_ENC, v).hex() for v in values]


# --------------------------------------------------------------------------- vs npm lib


def _unavailable(reason: str):
    """Skip a cross-check that cannot run here; under CI (make setup installs node's packages) fail."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the OpenZeppelin cross-check: {reason}")
    pytest.skip(reason)


def run_oz(cases: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        _unavailable("node not found on PATH; cannot cross-check against @openzeppelin/merkle-tree")
    if not OZ_PKG.exists():
        _unavailable(f"@openzeppelin/merkle-tree not installed ({OZ_PKG} missing; run make setup)")
    proc = subprocess.run(
        [node, str(OZ_SCRIPT)], input=json.dumps({"cases": cases}), capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 3:
        _unavailable(f"@openzeppelin/merkle-tree not loadable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["results"]


def make_case(enc: list[str], values: list[Any], sort_leaves: bool, multi: list[list[int]]) -> dict:
    py = StandardMerkleTree.of(values, enc, sort_leaves=sort_leaves)
    n = len(values)
    # the JS lib is slow (~10 ms per proof): prove every leaf of small trees only
    proof_indices = list(range(n)) if n <= 64 else sorted(random.Random(n).sample(range(n), 40) + [0, n - 1])
    return {
        "encoding": enc,
        "values": norm_json(values),  # decimal strings, as one would feed the JS lib
        "sortLeaves": sort_leaves,
        "proofIndices": proof_indices,
        "multiIndices": multi,
        "pyDump": json.loads(json.dumps(py.dump())),
        "_py": py,
    }


def index_sets(n: int, rng: random.Random) -> list[list[int]]:
    # the JS lib needs ~1 ms per leaf hash, so keep large sets few
    cap = min(n, 48)
    sets = [[0], [n - 1], list(range(n))[::-1], list(range(n // 3, n))]
    for _ in range(6):  # contiguous runs, as the bridge proves them
        a = rng.randrange(n)
        sets.append(list(range(a, min(n, a + rng.randint(1, cap)))))
    for _ in range(6):  # random subsets, random order
        sets.append(rng.sample(range(n), rng.randint(1, cap)))
    return sets


@pytest.fixture(scope="module")
def oz_cases() -> list[tuple[dict, dict]]:
    rng = random.Random(1234)
    cases = []
    for n in (1, 2, 3, 4, 5, 7, 8, 13, 33, 64, 100, 257):
        for sort_leaves in (False, True):
            cases.append(make_case(BRIDGE_ENC, bridge_values(n, seed=n), sort_leaves, index_sets(n, rng)))
    other = [[i % 3 == 0, "0x" + bytes([i] * 32).hex(), -(7**i), i, "0x" + f"{i:040X}", f"s{i}"] for i in range(12)]
    for sort_leaves in (False, True):
        cases.append(
            make_case(["bool", "bytes32", "int256", "uint8", "address", "string"], other, sort_leaves, index_sets(12, rng))
        )
    js = run_oz([{k: v for k, v in c.items() if k != "_py"} for c in cases])
    return list(zip(cases, js))


def test_oz_same_tree_and_proofs(oz_cases: list[tuple[dict, dict]]) -> None:
    for case, js in oz_cases:
        py: StandardMerkleTree = case["_py"]
        assert py.root == js["root"]
        assert py.tree == js["tree"]
        assert [py.get_proof(i) for i in case["proofIndices"]] == js["proofs"]


def test_oz_same_multiproofs(oz_cases: list[tuple[dict, dict]]) -> None:
    for case, js in oz_cases:
        py: StandardMerkleTree = case["_py"]
        for indices, jmp in zip(case["multiIndices"], js["multiproofs"]):
            mp = py.get_multi_proof(indices)
            assert norm_json(mp.leaves) == norm_json(jmp["leaves"]), (case["sortLeaves"], indices)
            assert mp.proof == jmp["proof"]
            assert mp.proof_flags == jmp["proofFlags"]
            assert py.verify_multi_proof(mp)


def test_oz_loads_python_dump(oz_cases: list[tuple[dict, dict]]) -> None:
    for case, js in oz_cases:
        py: StandardMerkleTree = case["_py"]
        assert js["pyDumpRoot"] == py.root
        assert js["pyDumpProofs"] == [py.get_proof(i) for i in case["proofIndices"]]


def test_python_loads_oz_dump(oz_cases: list[tuple[dict, dict]]) -> None:
    for case, js in oz_cases:
        py: StandardMerkleTree = case["_py"]
        loaded = StandardMerkleTree.load(js["dump"])
        assert loaded.root == js["root"] == py.root
        assert loaded.leaf_encoding == case["encoding"]
        assert [loaded.get_proof(i) for i in case["proofIndices"]] == js["proofs"]
        assert norm_json(loaded.values) == norm_json(case["values"])
        for indices, jmp in zip(case["multiIndices"][:3], js["multiproofs"]):
            mp = loaded.get_multi_proof(indices)
            assert (mp.proof, mp.proof_flags) == (jmp["proof"], jmp["proofFlags"])
