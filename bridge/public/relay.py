"""Gasless retirement for marketplaces: the API accepts a holder's EIP-712 ``Retire``
signature (see :mod:`bridge.chain.retire_signature`) and relays it to
``ICCToken.retireWithSignature``; the bridge's relayer key pays the gas.

Before spending gas the relay checks what it can name a field for: the class is a registered
credit class, the signature recovers to the holder (externally owned accounts; contract
wallets are checked by the contract through ERC-1271), the deadline has not passed, the nonce
is the holder's current one, and the holder holds the amount. The transaction is then
simulated by gas estimation; a revert there is refused with the contract's custom error as
the rule, and nothing is sent. The registry records the retirement, like any on-chain one,
when the sync applies its final ``Retired`` event; the response names the certificate token
whose metadata then links to the certificate.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictInt
from web3.logs import DISCARD

from bridge.chain.client import Chain, ChainRevert, TransactionFailed, gas_limit
from bridge.chain.retire_signature import RetireRequest, recover_retirement_signer
from bridge.chain.token import RETIREMENT_TEXT_LIMITS
from bridge.deployments import deployment_on
from bridge.public.links import metadata_path
from bridge.public.pages import base_url
from registry.api.auth import PrincipalDep
from registry.api.deps import SessionDep
from registry.api.problems import problem_responses
from registry.api.token_ids import TokenIdInput, WithTokenIdHex
from registry.domain.classes import CERTIFICATE_FLAG, token_id_hex
from registry.errors import Conflict, NotFound, RegistryError, RuleViolation
from registry.operations.classes import find_class_by_token

_HEX = re.compile(r"^0x([0-9a-fA-F]{2})*$")
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
UINT256 = Annotated[int, Field(ge=0, lt=2**256)]
#: Largest ``data`` relayed: a RetirementDetails within the contract's text limits encodes to
#: well under 4 KB; more only makes the relayer pay for calldata.
MAX_DATA_BYTES = 4096
#: Largest signature relayed (an ERC-1271 wallet's may be longer than 65 bytes).
MAX_SIGNATURE_BYTES = 1024

#: Contract errors a relayed retirement can revert with, and the request field each is about.
REVERT_FIELDS = {
    "RetirementSignatureExpired": "deadline",
    "InvalidRetirementSignature": "signature",
    "InvalidAccountNonce": "nonce",
    "ERC1155InsufficientBalance": "amount",
    "ZeroAmount": "amount",
    "NotACreditClass": "token_id",
    "ClassNotRegistered": "token_id",
    "MalformedRetirementData": "data",
    "UnknownRetirementPurpose": "data",
    "PurposeNotAuthorized": "data",
    "CorsiaOperatorMissing": "data",
    "InvalidCorsiaState": "data",
    "UnknownCorsiaCompliancePeriod": "data",
    "CorsiaDetailsOnlyForCorsia": "data",
    "InvalidNdcParty": "data",
    "NdcPartyOnlyForNdc": "data",
    "IncompleteConsumptionPeriod": "data",
    "ConsumptionPeriodReversed": "data",
    "ConsumptionTimeOutOfRange": "data",
    "RetirementTextTooLong": "data",  # unless the text is one of the request's own (see _revert_field)
    "ERC1155InvalidReceiver": "beneficiary",
}
#: ``RetirementTextTooLong``'s texts (``RETIREMENT_TEXT_LIMITS`` order) that are request fields.
_TEXT_FIELDS = {"retireeName": "retiree_name", "customUri": "custom_uri", "comment": "comment"}


def _revert_field(exc: ChainRevert) -> str | None:
    if exc.error == "RetirementTextTooLong" and exc.args_:
        text = list(RETIREMENT_TEXT_LIMITS)[exc.args_[0]]
        return _TEXT_FIELDS.get(text, "data")
    return REVERT_FIELDS.get(exc.error)


class RelayUnavailable(RegistryError):
    """This server has no chain connection or no relayer key for the requested chain."""

    status = 503
    type = "relay-unavailable"


class RetirementRelayCreate(BaseModel):
    """A holder's signed ``Retire`` message: the arguments of ``retire`` plus holder, nonce,
    deadline and the 65-byte signature (or an ERC-1271 signature for contract wallets)."""

    chain_id: StrictInt = Field(description="chain of the ICC token deployment")
    holder: str = Field(pattern=_ADDRESS)
    token_id: TokenIdInput = Field(description="credit class token id (decimal or 0x-hex)")
    amount: StrictInt = Field(ge=1, lt=2**256, description="whole tonnes")
    beneficiary: Optional[str] = Field(None, pattern=_ADDRESS, description="null: the holder")
    retiree_name: str = Field("", max_length=500)
    custom_uri: str = Field("", max_length=2000)
    comment: str = Field("", max_length=2000)
    data: str = Field("0x", max_length=2 + 2 * MAX_DATA_BYTES,
                      description="hex of abi.encode(RetirementDetails); 0x for a voluntary retirement")
    nonce: UINT256 = Field(description="the holder's current nonces(holder)")
    deadline: UINT256 = Field(description="unix seconds after which the signature is void")
    signature: str = Field(max_length=2 + 2 * MAX_SIGNATURE_BYTES,
                           description="hex signature over the EIP-712 Retire message")


class RetirementRelayed(WithTokenIdHex):
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    gas_used: int = Field(description="paid by the bridge's relayer, not the holder")
    holder: str
    token_id: str
    amount: int
    onchain_retirement_id: int
    certificate_token_id: str
    certificate_token_id_hex: str
    certificate_metadata_url: str = Field(
        description="ERC-1155 metadata of the certificate token; links to the registry certificate once synced")


def _bytes(value: str, field: str) -> bytes:
    if not _HEX.match(value):
        raise RuleViolation(f"{field} is not 0x-prefixed hex bytes", field=field)
    return bytes.fromhex(value[2:])


class RelayRefused(RegistryError):
    """The retirement passed every check and the simulation, then reverted when sent (the holder's
    tokens or nonce changed meanwhile): the relayer paid gas, nothing was retired."""

    status = 409
    type = "relay-reverted"


class HolderCoolingDown(RegistryError):
    """A holder whose relayed retirement reverted on-chain is refused for a while: otherwise the
    same body could be resent to make the relayer pay for reverts again and again."""

    status = 429
    type = "relay-holder-cooling-down"


#: Seconds a holder whose relay reverted on-chain is refused.
HOLDER_COOLDOWN_SECONDS = 600
#: Signature length of an externally owned account (r, s, v).
EOA_SIGNATURE_BYTES = 65


class RelayBudgetSpent(RegistryError):
    """The relayer already spent, within the last hour, the gas this holder or this API key may
    have it spend: the relay refuses until enough of that spending is an hour old."""

    status = 429
    type = "relay-gas-budget-spent"

    def __init__(self, detail: str, *, field: str, rule: str, retry_after: int):
        super().__init__(detail, field=field, rule=rule)
        self.headers = {"Retry-After": str(retry_after)}


#: Gas the relayer may spend per holder and per API key in a sliding hour:
#: ``ICR_RELAY_GAS_PER_HOLDER_PER_HOUR`` and ``ICR_RELAY_GAS_PER_KEY_PER_HOUR``. A relayed
#: retirement costs about 100,000-200,000 gas (more with ``data``), so the defaults allow a
#: holder about ten an hour and a marketplace's key a few hundred.
GAS_PER_HOLDER_PER_HOUR = 2_000_000
GAS_PER_KEY_PER_HOUR = 60_000_000
BUDGET_WINDOW_SECONDS = 3600


class GasBudget:
    """Gas spent by the relayer per holder and per API key over a sliding window (in memory, per
    server process). A relay reserves its gas limit before it is sent, so concurrent requests
    cannot overdraw, and is charged what its receipt says once mined (a reverted transaction
    keeps its whole reservation: the relayer paid for it)."""

    def __init__(self, per_holder: int = GAS_PER_HOLDER_PER_HOUR, per_key: int = GAS_PER_KEY_PER_HOUR,
                 window: float = BUDGET_WINDOW_SECONDS, clock=time.monotonic):
        self.per_holder, self.per_key, self.window, self.clock = per_holder, per_key, window, clock
        self._spent: dict[str, deque[list]] = {}  # bucket -> [clock seconds, gas] oldest first

    @classmethod
    def from_env(cls) -> GasBudget:
        return cls(int(os.environ.get("ICR_RELAY_GAS_PER_HOLDER_PER_HOUR", GAS_PER_HOLDER_PER_HOUR)),
                   int(os.environ.get("ICR_RELAY_GAS_PER_KEY_PER_HOUR", GAS_PER_KEY_PER_HOUR)))

    def _window(self, bucket: str, now: float) -> deque[list]:
        spends = self._spent.setdefault(bucket, deque())
        while spends and spends[0][0] <= now - self.window:
            spends.popleft()
        return spends

    def reserve(self, holder: str, key_id: str, gas: int) -> list[list]:
        """Reserve ``gas`` against the holder's and the key's budgets, or refuse naming the one spent."""
        now = self.clock()
        buckets = ((f"holder:{holder}", self.per_holder, "holder", f"the holder {holder}"),
                   (f"key:{key_id}", self.per_key, "api_key", "this API key"))
        for bucket, limit, field, whose in buckets:
            if gas > limit:
                raise RuleViolation(f"this retirement needs up to {gas:,} gas, more than the {limit:,} the relayer "
                                    f"spends per hour for {whose}: send it from the holder's wallet", field=field,
                                    rule="relay-gas-budget")
            spends = self._window(bucket, now)
            spent = sum(gas_ for _, gas_ in spends)
            if spent + gas > limit:
                freed, wait = spent, 0.0
                for at, gas_ in spends:  # the oldest spending leaves the window first
                    freed -= gas_
                    wait = at + self.window - now
                    if freed + gas <= limit:
                        break
                retry = int(wait) + 1
                raise RelayBudgetSpent(f"the relayer spent {spent:,} of the {limit:,} gas an hour it spends for "
                                       f"{whose}; this retirement needs up to {gas:,}: try again in {retry} s",
                                       field=field, rule="relay-gas-budget", retry_after=retry)
        entries = []
        for bucket, *_ in buckets:
            entry = [now, gas]
            self._spent[bucket].append(entry)
            entries.append(entry)
        if len(self._spent) > 100_000:  # forget idle holders and keys
            for idle in [b for b, s in self._spent.items() if not s or s[-1][0] <= now - self.window]:
                del self._spent[idle]
        return entries

    @staticmethod
    def settle(entries: list[list], gas_used: int) -> None:
        """Charge what the mined transaction used instead of its reservation."""
        for entry in entries:
            entry[1] = gas_used


class Relay:
    """Relays signed retirements with one relayer key; one transaction at a time per relay, so
    the relayer's nonces stay in order. Every request is simulated against the pending state
    before it is sent, and its gas is reserved against the holder's and the API key's hourly
    budgets (:class:`GasBudget`); a holder whose relay still reverts on-chain is refused for
    ``HOLDER_COOLDOWN_SECONDS``."""

    def __init__(self, relayer, clock=time.monotonic, budget: GasBudget | None = None):
        self.relayer = relayer
        self._lock = threading.Lock()
        self._clock = clock
        self._cooling: dict[str, float] = {}  # holder -> until (clock seconds)
        self.budget = budget or GasBudget.from_env()

    def check(self, chain: Chain, request: RetireRequest, signature: bytes) -> None:
        token = chain.token
        w3 = chain.w3
        until = self._cooling.get(request.holder)
        if until is not None and self._clock() < until:
            raise HolderCoolingDown(f"a retirement relayed for {request.holder} reverted on-chain; relays for this "
                                    f"holder resume in {int(until - self._clock()) + 1} s", field="holder",
                                    rule="holder-cooling-down")
        if not w3.eth.get_code(request.holder):
            if len(signature) != EOA_SIGNATURE_BYTES:
                raise RuleViolation(f"an account's signature is {EOA_SIGNATURE_BYTES} bytes (r, s, v), not "
                                    f"{len(signature)}", field="signature", rule="signature-shape")
            try:
                signer = recover_retirement_signer(request, signature, chain.chain_id, chain.address)
            except Exception as exc:  # eth_keys refuses r, s or v out of range in several ways
                raise RuleViolation(f"the signature does not recover to an account ({type(exc).__name__})",
                                    field="signature", rule="signature-shape") from None
            if signer != request.holder:
                raise RuleViolation(f"the signature is by {signer}, not by the holder {request.holder}",
                                    field="signature", rule="signature-by-holder")
        now = int(w3.eth.get_block("latest")["timestamp"])
        if request.deadline < now:
            raise RuleViolation(f"the signature expired at {request.deadline} (chain time {now})", field="deadline",
                                rule="signature-not-expired")
        current = token.functions.nonces(request.holder).call()
        if request.nonce < current:
            raise Conflict(f"nonce {request.nonce} of {request.holder} is used up (current {current}): this signature "
                           "was relayed already or superseded", field="nonce", rule="nonce-unused")
        if request.nonce > current:
            raise RuleViolation(f"nonce {request.nonce} is ahead of the holder's current nonce {current}",
                                field="nonce", rule="nonce-current")
        balance = token.functions.balanceOf(request.holder, request.token_id).call()
        if balance < request.amount:
            raise RuleViolation(f"{request.holder} holds {balance} of class {request.token_id}, not {request.amount}",
                                field="amount", rule="holder-balance")

    def relay(self, chain: Chain, request: RetireRequest, signature: bytes, key_id: str) -> dict[str, Any]:
        """Check, simulate, reserve the gas against the holder's and ``key_id``'s budgets, send."""
        with self._lock:
            self.check(chain, request, signature)
            fn = chain.token.functions.retireWithSignature(request.as_call_args(), signature)
            try:  # against the pending state: what would revert is refused before the relayer pays
                chain.call(fn, "retireWithSignature", sender=self.relayer.address, block="pending")
                estimate = chain.estimate_gas(fn, "retireWithSignature", sender=self.relayer.address)
            except ChainRevert as exc:
                raise RuleViolation(f"the token refuses this retirement: {exc.error}{exc.args_ or ''}",
                                    field=_revert_field(exc), rule=exc.error) from exc
            gas = gas_limit(estimate)
            reserved = self.budget.reserve(request.holder, key_id, gas)
            try:
                receipt = chain.transact(self.relayer, fn, "retireWithSignature", gas=gas)
            except (ChainRevert, TransactionFailed) as exc:
                self._cooling[request.holder] = self._clock() + HOLDER_COOLDOWN_SECONDS
                reason = exc.error if isinstance(exc, ChainRevert) else "the transaction failed"
                raise RelayRefused(f"the retirement reverted when sent ({reason}): the holder's tokens or nonce "
                                   f"changed since it was checked; nothing was retired, and relays for "
                                   f"{request.holder} pause for {HOLDER_COOLDOWN_SECONDS} s", field="holder",
                                   rule="relay-reverted") from exc
            except BaseException:  # nothing was mined (the relayer's funds, the node): nothing spent
                self.budget.settle(reserved, 0)
                raise
            self.budget.settle(reserved, receipt.gas_used)
        (event,) = chain.token.events.Retired().process_receipt(receipt.raw, errors=DISCARD)
        return {"receipt": receipt, "retirement_id": int(event["args"]["retirementId"])}


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one",
    404: "No deployment on that chain, or the token id is not a registered credit class",
    409: "The nonce is used up (relayed already), or the retirement reverted when sent",
    429: "Relays for this holder pause after one of them reverted on-chain, or the relayer spent the hour's gas "
         "budget of this holder or this API key (Retry-After)",
    422: "Invalid input, a bad or expired signature, too few tokens, or the token refuses the retirement",
    503: "This server relays no retirements on that chain (no chain connection or relayer key)",
}
router = APIRouter(tags=["relay"])


@router.post("/relay/retirements", status_code=202,
             responses=problem_responses(_DESCRIPTIONS))
def relay_retirement(body: RetirementRelayCreate, request: Request, session: SessionDep,
                     principal: PrincipalDep) -> RetirementRelayed:
    """Relay a holder's EIP-712 signed retirement (gasless for the holder: the bridge pays).

    Needs an API key (the marketplace relaying for its users). The retirement is on-chain when
    this answers; the registry records it when the sync applies the final ``Retired`` event,
    and the certificate token's metadata then links to the registry certificate."""
    base = base_url(request)  # before anything is sent: an untrusted Host is refused up front
    deployment = deployment_on(session, body.chain_id)
    if deployment is None:
        raise NotFound(f"no ICC token deployment is recorded for chain {body.chain_id}", field="chain_id")
    chain: Chain | None = (getattr(request.app.state, "chains", {}) or {}).get(body.chain_id)
    relay: Relay | None = getattr(request.app.state, "relay", None)
    if chain is None or relay is None:
        raise RelayUnavailable(f"this server relays no retirements on chain {body.chain_id}: start it with "
                               "--rpc-url and --relay (the relayer key from ICR_RELAYER_KEY or its keystore)",
                               field="chain_id")
    if body.token_id & CERTIFICATE_FLAG or find_class_by_token(session, body.token_id) is None:
        raise NotFound(f"token id {body.token_id} is not a registered credit class", field="token_id")
    try:
        signed = RetireRequest(holder=body.holder, token_id=body.token_id, amount=body.amount, nonce=body.nonce,
                               deadline=body.deadline, beneficiary=body.beneficiary, retiree_name=body.retiree_name,
                               custom_uri=body.custom_uri, comment=body.comment, data=_bytes(body.data, "data"))
    except ValueError as exc:
        raise RuleViolation(str(exc), field="holder") from exc
    signature = _bytes(body.signature, "signature")
    if len(signature) == 0:
        raise RuleViolation("the signature is empty", field="signature")
    result = relay.relay(chain, signed, signature, key_id=principal.key_id)
    receipt = result["receipt"]
    certificate = CERTIFICATE_FLAG | result["retirement_id"]
    return RetirementRelayed(
        chain_id=chain.chain_id, contract=chain.address, tx_hash=receipt.tx_hash, block_number=receipt.block_number,
        gas_used=receipt.gas_used, holder=signed.holder, token_id=str(body.token_id), amount=body.amount,
        onchain_retirement_id=result["retirement_id"], certificate_token_id=str(certificate),
        certificate_token_id_hex=token_id_hex(certificate),
        certificate_metadata_url=base.rstrip("/") + metadata_path(certificate),
    )
