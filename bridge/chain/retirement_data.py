"""The ``data`` argument of ``ICCToken.retire``: empty for a voluntary retirement, otherwise
``abi.encode(RetirementDetails)`` with the tuple type below (pure encode/decode, no I/O)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from eth_abi import decode, encode

from registry.domain.classes import Purpose

RETIREMENT_DETAILS_TYPE = "(uint8,string,string,string,uint64,uint64,string,string,uint16,uint16)"


class MalformedRetirementData(ValueError):
    pass


@dataclass(frozen=True)
class RetirementDetails:
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

    def as_json(self) -> dict:
        out = asdict(self)
        out["purpose"] = self.purpose.name
        return out


def encode_retirement_data(details: RetirementDetails | None) -> bytes:
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
            )
        ],
    )


def decode_retirement_data(data: bytes) -> RetirementDetails:
    """Empty data is a voluntary retirement with no further details."""
    if not data:
        return RetirementDetails()
    try:
        (fields,) = decode([RETIREMENT_DETAILS_TYPE], data)
        purpose = Purpose(fields[0])
    except Exception as exc:  # eth_abi raises several decoding error types
        raise MalformedRetirementData(f"retirement data does not decode as RetirementDetails: {exc}") from exc
    return RetirementDetails(purpose, *fields[1:])
