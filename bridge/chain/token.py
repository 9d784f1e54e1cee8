"""ICCToken's calldata and structs: the one place that knows their layout.

- The EIP-712 domain (name "ICR Bridge ICC", version "1", chain id, token address) and the
  ``CommitBatch`` message the registry signer signs.
- The mint leaf (``ICCToken.Leaf``): its ABI encoding for the Merkle tree, and the packed
  encoding of ``mintLeaves`` (37 bytes a leaf, a class table, packed proof flags).
- The ``data`` argument of ``retire`` (``abi.encode(RetirementDetails)``).
- Structs by field name: ``creditClass``, ``batch`` and ``redemption`` answers are read, and
  ``registerClass``' ``info`` is written, through the component names in the contract's ABI,
  never by tuple position.

Pure encoding, plus reads through :class:`bridge.chain.client.Chain`; no database code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from eth_abi import encode
from eth_utils import to_canonical_address, to_checksum_address

from bridge.chain.solidity import load_artifact
from bridge.merkle.tree import MultiProof
from registry.domain.classes import Purpose
from registry.domain.lifecycle import RetirementDetails

if TYPE_CHECKING:
    from bridge.chain.client import Chain

# ------------------------------------------------------------------------------------------
# EIP-712
# ------------------------------------------------------------------------------------------

DOMAIN_NAME = "ICR Bridge ICC"
DOMAIN_VERSION = "1"

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

#: Field order and types of the contract's EIP-712 ``CommitBatch`` type.
COMMIT_BATCH_FIELDS = [
    {"name": "batchId", "type": "uint256"},
    {"name": "root", "type": "bytes32"},
    {"name": "leafCount", "type": "uint256"},
]


def eip712_domain(chain_id: int, contract: str) -> dict[str, Any]:
    """The ICCToken EIP-712 domain on one chain and contract: a signature for it is valid there only."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": int(chain_id),
        "verifyingContract": to_checksum_address(contract),
    }


def commit_typed_data(chain_id: int, contract: str, batch_id: int, root: str, leaf_count: int) -> dict:
    """EIP-712 ``CommitBatch`` message of ``commitBatchWithSignature``, in the token's domain."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "CommitBatch": COMMIT_BATCH_FIELDS},
        "primaryType": "CommitBatch",
        "domain": eip712_domain(chain_id, contract),
        "message": {"batchId": batch_id, "root": bytes.fromhex(root.removeprefix("0x")), "leafCount": leaf_count},
    }


# ------------------------------------------------------------------------------------------
# Mint leaves
# ------------------------------------------------------------------------------------------

#: (batchId, leafIndex, classId, recipient, amount, firstSerial, lastSerial), as ICCToken.Leaf.
LEAF_ENCODING = ["uint256", "uint256", "uint256", "address", "uint256", "uint256", "uint256"]


class Leaf(NamedTuple):
    """One leaf of a mint batch (``ICCToken.Leaf``): a serial block (inclusive unit range) of
    one class for a recipient. Its :meth:`value` is what the Merkle tree hashes."""

    batch_id: int
    leaf_index: int
    class_id: int
    recipient: str
    amount: int
    first_serial: int
    last_serial: int

    def value(self) -> list:
        """The leaf as a tree value, in LEAF_ENCODING order."""
        return list(self)


#: Bytes per leaf in ``ICCToken.mintLeaves``' packed encoding (its PACKED_LEAF_BYTES).
PACKED_LEAF_BYTES = 37
#: A packed leaf names its class by a one-byte index into the call's class list.
MAX_CLASSES_PER_MINT = 256
_UINT64_LIMIT = 1 << 64


class UnpackableLeaf(ValueError):
    """Leaves that ``mintLeaves``' packed encoding cannot carry (the claim path can)."""


@dataclass(frozen=True)
class PackedLeaves:
    """``(firstLeafIndex, classIds, leaves)`` of ``ICCToken.mintLeaves``."""

    first_leaf_index: int
    class_ids: list[int]
    leaves: bytes


def pack_leaves(values: Sequence[Sequence]) -> PackedLeaves:
    """Pack leaf values (LEAF_ENCODING order) of one batch with consecutive leaf indices, lowest
    first, as a multiproof of a contiguous range lists them, for ``mintLeaves``.

    Each leaf packs to PACKED_LEAF_BYTES big-endian bytes: recipient (20) | index of its class in
    ``classIds`` (1) | amount (8) | first serial (8). The contract rebuilds the batch id, the leaf
    index (``firstLeafIndex`` + position) and the last serial (first + amount - 1), so the hash is
    the tree's own leaf hash, from about a sixth of the calldata of seven ABI words."""
    if not values:
        raise UnpackableLeaf("no leaves to pack")
    batch_ids = {v[0] for v in values}
    if len(batch_ids) > 1:
        raise UnpackableLeaf(f"leaves of several batches in one mint: {sorted(batch_ids)}")
    first_index = values[0][1]
    class_ids: list[int] = []
    class_index: dict[int, int] = {}
    packed = bytearray()
    for position, (_batch_id, leaf_index, class_id, recipient, amount, first, last) in enumerate(values):
        if leaf_index != first_index + position:
            raise UnpackableLeaf(f"leaf {leaf_index} at position {position}: a mint takes consecutive leaves "
                                 f"from leaf {first_index}")
        for field, value in (("amount", amount), ("firstSerial", first)):
            if not 0 <= value < _UINT64_LIMIT:
                raise UnpackableLeaf(f"leaf {leaf_index}: {field} {value} does not fit in 64 bits")
        if amount < 1 or last != first + amount - 1:
            raise UnpackableLeaf(f"leaf {leaf_index}: amount {amount} is not the size of serials {first}-{last}")
        index = class_index.get(class_id)
        if index is None:
            if len(class_ids) == MAX_CLASSES_PER_MINT:
                raise UnpackableLeaf(f"more than {MAX_CLASSES_PER_MINT} classes in one mint")
            index = class_index[class_id] = len(class_ids)
            class_ids.append(class_id)
        packed += to_canonical_address(recipient)
        packed += bytes((index,))
        packed += amount.to_bytes(8, "big") + first.to_bytes(8, "big")
    return PackedLeaves(first_index, class_ids, bytes(packed))


def pack_proof_flags(flags: Sequence[bool]) -> list[int]:
    """``mintLeaves``' ``proofFlagWords``: multiproof flag ``i`` is bit ``i % 256`` of word ``i // 256``."""
    words = [0] * ((len(flags) + 255) // 256)
    for i, flag in enumerate(flags):
        if flag:
            words[i >> 8] |= 1 << (i & 0xFF)
    return words


def mint_leaves_arguments(multi: MultiProof) -> tuple[int, list[int], bytes, list[bytes], list[int]]:
    """``ICCToken.mintLeaves``' arguments after the batch id for a multiproof of consecutive
    leaves: (firstLeafIndex, classIds, packed leaves, proof, packed proof flags)."""
    packed = pack_leaves(multi.leaves)
    proof = [bytes.fromhex(p[2:]) for p in multi.proof]
    return packed.first_leaf_index, packed.class_ids, packed.leaves, proof, pack_proof_flags(multi.proof_flags)


# ------------------------------------------------------------------------------------------
# Retirement data: the `data` argument of retire
# ------------------------------------------------------------------------------------------

#: ABI type of ``ICCToken.RetirementDetails``, the layout of a non-empty ``data`` of ``retire``.
RETIREMENT_DETAILS_TYPE = "(uint8,string,string,string,uint64,uint64,string,string,uint16,uint16,string)"
#: Its fields' kinds in order: an unsigned integer's width in bits, or ``str``.
_DETAILS_LAYOUT: tuple[int | type, ...] = (8, str, str, str, 64, 64, str, str, 16, 16, str)

#: Longest texts ``retire`` accepts, in bytes, keyed by the contract's names, in the order of its
#: ``RetirementText`` enum (the ``field`` of ``RetirementTextTooLong``): the contract's private
#: ``MAX_*_LENGTH`` constants, which ``RetirementTextTooLong`` reports (tests/contracts/
#: test_retirement.py holds them equal at each boundary, and within the registry's columns).
RETIREMENT_TEXT_LIMITS: dict[str, int] = {
    "retireeName": 500,
    "customUri": 2000,
    "comment": 2000,
    "beneficiaryName": 500,
    "beneficiaryAddress": 500,
    "organizationId": 100,
    "corsiaOperator": 200,
}
#: Latest consumption time ``retire`` accepts (unix seconds): 9999-12-31T23:59:59Z, the contract's
#: ``MAX_CONSUMPTION_TIME``.
MAX_CONSUMPTION_TIME = 253402300799


class MalformedRetirementData(ValueError):
    """``data`` of a retirement that does not decode as ``RetirementDetails``."""


@dataclass(frozen=True)
class RetirementData:
    """``ICCToken.RetirementDetails`` as the chain carries it: zero and empty mean not given."""

    purpose: Purpose = Purpose.voluntary
    beneficiary_name: str = ""
    beneficiary_address: str = ""
    organization_id: str = ""
    consumption_start: int = 0  # unix seconds, 0 = not given
    consumption_end: int = 0
    corsia_operator: str = ""
    corsia_state: str = ""
    compliance_period_start: int = 0  # year, 0 = not given
    compliance_period_end: int = 0
    ndc_party: str = ""  # ISO 3166-1 alpha-3 party whose NDC an NDC retirement counts toward

    def as_json(self) -> dict:
        out = asdict(self)
        out["purpose"] = self.purpose.name
        return out

    def claim(self, *, retiree_name: str, comment: str) -> RetirementDetails:
        """The registry's form of this claim, with the ``Retired`` event's own strings: a
        beneficiary name falls back to the retiree's, zeros become not given and consumption
        times (unix seconds) become UTC dates, or not given when they are no date
        (:meth:`date_flags` says which)."""
        return RetirementDetails(
            purpose=self.purpose,
            beneficiary_name=self.beneficiary_name or retiree_name,
            beneficiary_address=self.beneficiary_address,
            retiree=retiree_name,
            comment=comment,
            corsia_operator=self.corsia_operator or None,
            corsia_state=self.corsia_state or None,
            compliance_period_start=self.compliance_period_start or None,
            compliance_period_end=self.compliance_period_end or None,
            ndc_party=self.ndc_party or None,
            consumption_start=_utc_date(self.consumption_start),
            consumption_end=_utc_date(self.consumption_end),
        )


    def date_flags(self) -> list[str]:
        """One flag per consumption time that is no date (past 9999-12-31): recorded as not given."""
        return [f"{name}: {seconds} is no date (unix seconds past {MAX_DATE_SECONDS}); recorded as not given"
                for name, seconds in (("consumption_start", self.consumption_start),
                                      ("consumption_end", self.consumption_end))
                if seconds > MAX_DATE_SECONDS]


#: 9999-12-31T23:59:59Z, the last second a date can hold.
MAX_DATE_SECONDS = 253_402_300_799


def _utc_date(seconds: int) -> date | None:
    if not seconds or seconds > MAX_DATE_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).date()


def encode_retirement_data(details: RetirementData | None) -> bytes:
    """``data`` for ``retire``: empty for None (a voluntary retirement), else the ABI encoding."""
    if details is None:
        return b""
    return encode(
        [RETIREMENT_DETAILS_TYPE],
        [
            (
                int(details.purpose),
                details.beneficiary_name,
                details.beneficiary_address,
                details.organization_id,
                details.consumption_start,
                details.consumption_end,
                details.corsia_operator,
                details.corsia_state,
                details.compliance_period_start,
                details.compliance_period_end,
                details.ndc_party,
            )
        ],
    )


def _abi_decode_details(data: bytes) -> list:
    """``abi.decode(data, (RetirementDetails))`` exactly as the contract's decoder (solc 0.8, ABI
    coder v2) reads it, then its strings as strict UTF-8 (the contract refuses other strings):
    offsets and lengths must stay inside ``data`` and below 2^64 and integers within their types;
    unlike eth_abi's strict decoder, padding bytes are never read, so neither their content nor
    their presence matters, and offsets may point anywhere inside ``data``. Raises ValueError."""
    end = len(data)

    def word(at: int) -> int:
        return int.from_bytes(data[at:at + 32], "big")

    if end < 32:
        raise ValueError(f"{end} bytes: no room for the tuple's offset")
    head = word(0)
    if head >> 64 or head + 32 * len(_DETAILS_LAYOUT) > end:
        raise ValueError(f"the tuple's head at offset {head} does not fit in {end} bytes")
    fields: list = []
    for i, kind in enumerate(_DETAILS_LAYOUT):
        value = word(head + 32 * i)
        if kind is str:
            at = head + value
            if value >> 64 or at + 32 > end:
                raise ValueError(f"field {i}: string offset {value} is outside the data")
            length = word(at)
            if length >> 64 or at + 32 + length > end:
                raise ValueError(f"field {i}: string of {length} bytes runs past the data")
            fields.append(data[at + 32:at + 32 + length].decode("utf-8"))
        elif value >> kind:
            raise ValueError(f"field {i}: {value} does not fit in uint{kind}")
        else:
            fields.append(value)
    return fields


def decode_retirement_data(data: bytes) -> RetirementData:
    """Empty data is a voluntary retirement with no further details. Otherwise ``data`` decodes
    exactly when the contract's ``decodeRetirementData`` does and ``retire`` knows its purpose
    (tests/reliability/test_fuzz_parsers.py compares them on damaged encodings)."""
    if not data:
        return RetirementData()
    try:
        fields = _abi_decode_details(bytes(data))
        purpose = Purpose(fields[0])
    except ValueError as exc:  # UnicodeDecodeError is one
        raise MalformedRetirementData(f"retirement data does not decode as RetirementDetails: {exc}") from exc
    return RetirementData(purpose, *fields[1:])


# ------------------------------------------------------------------------------------------
# Structs by field name
# ------------------------------------------------------------------------------------------

#: ``ICCToken.RedemptionStatus.Pending``.
REDEMPTION_PENDING = 1


def _components(abi_entries: Sequence[Mapping[str, Any]], name: str) -> list[str]:
    (entry,) = [e for e in abi_entries if e.get("name", "") == name] or [abi_entries[0]]
    return [c["name"] for c in entry["components"]]


def read_struct(chain: Chain, fn, action: str) -> dict[str, Any]:
    """Call a view that returns one struct and answer it keyed by the struct's field names."""
    names = _components(fn.abi["outputs"], "")
    return dict(zip(names, chain.call(fn, action), strict=True))


def credit_class(chain: Chain, class_id: int | str) -> dict[str, Any]:
    """``creditClass(classId)``: projectNumber, vintage, article6, letterNumber, hostCountry,
    authorizedUses, caStatus, registered."""
    return read_struct(chain, chain.token.functions.creditClass(int(class_id)), "creditClass")


def batch(chain: Chain, batch_id: int) -> dict[str, Any]:
    """``batch(batchId)``: root, leafCount, mintedLeaves, revoked."""
    return read_struct(chain, chain.token.functions.batch(batch_id), "batch")


def redemption(chain: Chain, redemption_id: int) -> dict[str, Any]:
    """``redemption(redemptionId)``: holder, reclaimableAt, status, classId, amount, accountReference."""
    return read_struct(chain, chain.token.functions.redemption(redemption_id), "redemption")


@lru_cache(maxsize=1)
def _token_abi() -> tuple[dict[str, Any], ...]:
    return tuple(load_artifact("ICCToken").abi)


def struct_argument(function: str, argument: str, fields: Mapping[str, Any]) -> tuple:
    """The tuple for struct ``argument`` of ICCToken's ``function``, from its fields by name (the
    component order of the built artifact's ABI): a field the ABI names and ``fields`` lacks, or
    one ``fields`` has and the ABI does not, is a KeyError."""
    (entry,) = [e for e in _token_abi() if e.get("type") == "function" and e["name"] == function]
    names = _components(entry["inputs"], argument)
    extra = set(fields) - set(names)
    if extra:
        raise KeyError(f"{function}({argument}) has no field {sorted(extra)[0]}")
    return tuple(fields[name] for name in names)


def class_info(*, project_number: int, vintage: int, article6: bool, letter_number: int, host_country: str,
               authorized_uses: int, ca_status: int) -> tuple:
    """``registerClass``' ``info`` (an unregistered ``CreditClass``) for a registry class."""
    return struct_argument("registerClass", "info", {
        "projectNumber": project_number, "vintage": vintage, "article6": article6, "letterNumber": letter_number,
        "hostCountry": host_country.encode(), "authorizedUses": authorized_uses, "caStatus": ca_status,
        "registered": False,
    })
