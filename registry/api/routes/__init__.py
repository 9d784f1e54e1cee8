"""HTTP API of the registry: one router per resource (:mod:`registry.api.main` includes them all).

Reads are public: the registry is a public record of projects, serial blocks, balances,
issuances, retirements, cancellations and its own ledger (tokens' metadata and Merkle proofs,
served by :mod:`bridge.app`, are public too). Writes, wallet links, transfer histories and
API keys need an API key (``X-API-Key``, see :mod:`registry.api.auth`): an organization key acts
on its own organization's accounts only; the registry administrator key issues, converts,
cancels, registers projects and organizations and opens system accounts.

Every write is one database transaction (:func:`registry.api.deps.committing`) around operations
that never commit themselves. Errors are RFC 9457 problem+json naming the field or rule.
Every list answers ``{"page": {...}, "items": [...]}`` with ``offset``/``limit`` (one default,
:mod:`registry.api.pagination`), the total in ``X-Total-Count`` and the next page in a ``Link``
header.

Article 6.2 (seed 003) and additionality (seed 002): reads are public (letters, CA status and the annual report are published by the registry,
§I, §II.2, §III). Writes are registry-administrator operations (letter review, designation,
CA decisions, non-CA events and compensation), except that a project's proponent
organization may submit its letter. Each write is one transaction; a refused rule is a
problem+json response naming the rule and field (422), an illegal transition a 409.
"""
