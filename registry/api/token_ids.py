"""Token ids in the API (issue 18): accepted as decimal or ``0x``-hex everywhere (paths, queries,
bodies; the 64-hex-digit form ERC-1155 clients request too), served as both (``token_id``
decimal, ``token_id_hex`` the 64-digit lowercase hex). The parsing rule is
:func:`registry.domain.classes.parse_token_id`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema, computed_field

from registry.domain.classes import parse_token_id, token_id_hex
from registry.errors import RuleViolation
from registry.operations.classes import find_class_by_token

TOKEN_ID_DESCRIPTION = ("ERC-1155 token id: decimal digits, 0x-hex, or the 64 lowercase hex digits of "
                        "uri(id) (a 64-character id is read as hex)")

TokenIdInput = Annotated[int, BeforeValidator(parse_token_id), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": "^(0[xX][0-9a-fA-F]{1,64}|[0-9]{1,78}|[0-9a-fA-F]{64})$"},
              {"type": "integer", "minimum": 0}],
    "description": TOKEN_ID_DESCRIPTION,
})]


def token_id_of(text: str, field: str) -> int:
    """A token id from a path or query parameter; 422 naming ``field`` when it is none."""
    try:
        return parse_token_id(text)
    except ValueError as exc:
        raise RuleViolation(str(exc), field=field) from None


class WithTokenIdHex(BaseModel):
    """A model with a decimal ``token_id`` that also serves it as ``token_id_hex``."""

    token_id: str = Field(description="decimal token id")

    @computed_field(description="the token id as 64 lowercase hex digits (as in uri(id))")
    @property
    def token_id_hex(self) -> str:
        return token_id_hex(self.token_id)


def class_id_of(session, text: str, field: str = "token_id") -> int:
    """The credit class id a token id filter names (-1, matching nothing, for an unknown class)."""
    credit_class = find_class_by_token(session, token_id_of(text, field))
    return credit_class.id if credit_class is not None else -1
