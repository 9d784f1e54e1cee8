"""Chain access: a Web3 connection (in-process eth-tester or any JSON-RPC URL), local signing
of every transaction, receipts checked, and reverts decoded into the contract's custom errors.

Keys are held by :class:`eth_account.LocalAccount` objects handed in by the caller (from a
keystore or the environment); nothing here stores or logs them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    RequestTimedOut,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import RPCEndpoint

from bridge.chain.solidity import load_artifact

log = logging.getLogger("icr_bridge.chain")

# eth-tester is a dev chain: fund role accounts from its first prefunded account.
FUNDING_WEI = 10**21
SEND_RETRIES = 4
#: Seconds after a redemption request from which an unanswered holder may reclaim its tokens.
DEFAULT_REDEMPTION_TIMEOUT = 7 * 24 * 3600


def bump_fees(tx: dict[str, Any], factor_percent: int = 125) -> dict[str, Any]:
    """The same transaction with fees raised enough for nodes to accept it as a replacement."""
    bumped = dict(tx)
    for name in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
        if name in bumped:
            bumped[name] = bumped[name] * factor_percent // 100 + 1
    return bumped


class ChainRevert(RuntimeError):
    """A transaction or call reverted; ``error`` is the custom error name when it is known and
    ``sender`` the address that sent it (None for a call without one)."""

    def __init__(self, action: str, error: str, args: tuple = (), raw: str = "", sender: str | None = None):
        self.action = action
        self.error = error
        self.args_ = args
        self.raw = raw
        self.sender = sender
        detail = f"{error}{args}" if args else error
        super().__init__(f"{action} reverted: {detail}")


class TransactionFailed(RuntimeError):
    """A mined transaction has status 0."""

    def __init__(self, message: str, sender: str | None = None):
        self.sender = sender
        super().__init__(message)


class SendRefused(RuntimeError):
    """The node refused a signed transaction before it was mined (its message is the node's:
    nonce too low, replacement underpriced, ...)."""

    def __init__(self, action: str, sender: str, message: str):
        self.action = action
        self.sender = sender
        self.message = message
        super().__init__(f"{action}: the node refused the transaction from {sender}: {message}")


class InsufficientFunds(SendRefused):
    """The sender cannot pay for the transaction's gas: it needs ether on this chain."""


#: How nodes (anvil, geth, eth-tester) word "the sender cannot pay for this transaction".
_NO_FUNDS_MESSAGES = ("insufficient funds", "cannot afford")


def _node_refusal(action: str, sender: str, exc: BaseException) -> SendRefused | None:
    """A node's refusal of a transaction as a :class:`SendRefused` (None if ``exc`` is not one)."""
    if isinstance(exc, RequestTimedOut):
        return None
    message = str(getattr(exc, "message", None) or exc)
    if any(m in message.lower() for m in _NO_FUNDS_MESSAGES):
        return InsufficientFunds(action, sender, message)
    if isinstance(exc, Web3RPCError) or type(exc).__name__ == "ValidationError":
        return SendRefused(action, sender, message)
    return None


def eth_tester_web3() -> Web3:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    return Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))


#: Seconds a JSON-RPC request may take (``ICR_RPC_TIMEOUT`` for the operator commands).
DEFAULT_RPC_TIMEOUT = 10.0


def http_web3(url: str, timeout: float = DEFAULT_RPC_TIMEOUT) -> Web3:
    """A Web3 over HTTP whose requests fail after ``timeout`` seconds. Refused connections are
    retried a few times (a node restarting); timeouts are not, so a node that stopped answering
    (hung, SIGSTOP) fails a request after ``timeout`` instead of web3's default of five retries
    of its own timeout."""
    import requests
    from web3.providers.rpc.utils import ExceptionRetryConfiguration

    retry = ExceptionRetryConfiguration(errors=(requests.ConnectionError,), retries=3, backoff_factor=0.125)
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry))


def connect(rpc_url: str | None) -> Web3:
    """The in-process eth-tester chain when ``rpc_url`` is None or ``eth-tester``."""
    if rpc_url in (None, "", "eth-tester"):
        return eth_tester_web3()
    return http_web3(rpc_url)


def _error_selectors(abi: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    return {function_abi_to_4byte_selector(e): e for e in abi if e["type"] == "error"}


def decode_revert(abi: list[dict[str, Any]], data: str | bytes | None) -> tuple[str, tuple]:
    """Name and arguments of a revert payload (custom error, Error(string) or Panic)."""
    from eth_abi import decode

    if data is None:
        return "reverted without data", ()
    if isinstance(data, str):
        data = bytes.fromhex(data.removeprefix("0x"))
    if len(data) < 4:
        return "reverted without data", ()
    selector, body = data[:4], data[4:]
    if selector == bytes.fromhex("08c379a0"):
        return "Error", tuple(decode(["string"], body))
    if selector == bytes.fromhex("4e487b71"):
        return "Panic", tuple(decode(["uint256"], body))
    error = _error_selectors(abi).get(selector)
    if error is None:
        return f"unknown error 0x{selector.hex()}", ()
    types = [i["type"] if i["type"] != "tuple" else _tuple_type(i) for i in error["inputs"]]
    return error["name"], tuple(decode(types, body))


def _tuple_type(component: dict[str, Any]) -> str:
    inner = ",".join(c["type"] if c["type"] != "tuple" else _tuple_type(c) for c in component["components"])
    return f"({inner})"


def _revert_data(exc: BaseException) -> str | bytes | None:
    """Pull the revert payload out of either eth-tester's or web3's exception."""
    data = getattr(exc, "data", None)
    if isinstance(data, (str, bytes)) and data:
        return data
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, bytes) and arg:
            return arg
        if isinstance(arg, str) and arg.startswith("0x"):
            return arg
        if isinstance(arg, str) and arg.startswith("execution reverted: b"):
            # eth-tester puts the payload's Python bytes repr in the message.
            import ast

            try:
                return ast.literal_eval(arg.removeprefix("execution reverted: "))
            except (ValueError, SyntaxError):
                return None
        if isinstance(arg, dict) and isinstance(arg.get("data"), str):
            return arg["data"]
    return None


def _revert_exceptions() -> tuple[type[BaseException], ...]:
    excs: list[type[BaseException]] = [ContractLogicError]
    try:
        from eth_tester.exceptions import TransactionFailed as TesterFailed

        excs.append(TesterFailed)
    except ImportError:  # pragma: no cover - eth-tester is a dependency
        pass
    return tuple(excs)


REVERTS = _revert_exceptions()


def gas_limit(estimate: int) -> int:
    """The gas limit sent with a transaction whose estimate is ``estimate``: a margin for state
    that changes between the estimate and the block."""
    return int(estimate * 1.2) + 10_000


@dataclass
class Receipt:
    """A mined transaction: its hash, block and gas; ``raw`` is web3's receipt (logs decoded into
    web3's types), read from the node when first used if the wait read only the JSON fields."""

    tx_hash: str
    block_number: int
    gas_used: int
    _raw: Any = field(default=None, repr=False)
    _load_raw: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    @property
    def raw(self) -> Any:
        if self._raw is None and self._load_raw is not None:
            self._raw = self._load_raw()
        return self._raw


#: Seconds between two receipt requests while a transaction waits to be mined (web3's default),
#: reached by doubling from :data:`RECEIPT_FIRST_POLL_SECONDS`: a local node (anvil, automine)
#: mines within milliseconds of the send, and a first wait of web3's 0.1 s made 50 ``mintLeaves``
#: transactions take 5.2 s instead of 0.2 s when their receipts were not ready at the first ask.
RECEIPT_POLL_SECONDS = 0.1
RECEIPT_FIRST_POLL_SECONDS = 0.005


class Chain:
    """One connection, the token contract ABI, and local signing for role accounts."""

    def __init__(self, w3: Web3, address: str | None = None):
        self.w3 = w3
        self.artifact = load_artifact("ICCToken")
        self.abi = self.artifact.abi
        # Reverts are named from the errors of the contracts the bridge deploys: the token and
        # the ICR-compatible lookup (bridge.chain.lookup).
        self.revert_abi = [*self.abi, *load_artifact("ICRCarbonContractRegistry").abi]
        self.chain_id = w3.eth.chain_id
        self.address = to_checksum_address(address) if address else None
        self._nonces: dict[str, int] = {}
        self._token: Contract | None = None

    @property
    def token(self) -> Contract:
        """The token contract at ``address``, built once per address (web3 builds a contract's
        functions and events from the ABI: ~25 ms, once per mint transaction before)."""
        if self.address is None:
            raise RuntimeError("no ICC token contract address: deploy first or pass --contract")
        if self._token is None or self._token.address != self.address:
            self._token = self.w3.eth.contract(address=self.address, abi=self.abi)
        return self._token

    # ---------------------------------------------------------------- accounts
    def fund_from_dev_account(self, *addresses: str, amount: int = FUNDING_WEI) -> None:
        """Send ether from the node's first unlocked account (eth-tester and anvil only)."""
        source = self.w3.eth.accounts[0]
        for address in addresses:
            tx = self.w3.eth.send_transaction({"from": source, "to": address, "value": amount, "gas": 21000})
            self.w3.eth.wait_for_transaction_receipt(tx)

    # ---------------------------------------------------------------- transactions
    def _next_nonce(self, sender: str) -> int:
        pending = self.w3.eth.get_transaction_count(sender, "pending")
        nonce = max(pending, self._nonces.get(sender, 0))
        self._nonces[sender] = nonce + 1
        return nonce

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self.w3.eth.gas_price}
        tip = 10**9
        return {"maxFeePerGas": base * 2 + tip, "maxPriorityFeePerGas": tip}

    def transact(self, signer: LocalAccount, fn, action: str, gas: int | None = None) -> Receipt:
        """Sign and send a contract call, wait for its receipt, raise on revert or failure."""
        tx_params: dict[str, Any] = {"from": signer.address, "chainId": self.chain_id, **self._fees()}
        try:
            if gas is None:
                gas = gas_limit(fn.estimate_gas({"from": signer.address}))
            tx_params["gas"] = gas
            tx_params["nonce"] = self._next_nonce(signer.address)
            tx = fn.build_transaction(tx_params)
        except REVERTS as exc:
            self._nonces.pop(signer.address, None)
            name, args = decode_revert(self.revert_abi, _revert_data(exc))
            raise ChainRevert(action, name, args, raw=str(exc), sender=signer.address) from exc
        except Exception as exc:
            self._nonces.pop(signer.address, None)
            refusal = _node_refusal(action, signer.address, exc)
            if refusal is None:
                raise
            raise refusal from exc
        return self.send_signed(signer, tx, action)

    def _broadcast(self, signer: LocalAccount, tx: dict[str, Any], action: str) -> bytes:
        """Send a signed transaction, retrying transient connection errors (same bytes, so a
        retry of something that did arrive is answered "already known" and changes nothing)."""
        signed = signer.sign_transaction(tx)
        for attempt in range(SEND_RETRIES + 1):
            try:
                return bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
            except REVERTS as exc:
                self._nonces.pop(signer.address, None)
                name, args = decode_revert(self.revert_abi, _revert_data(exc))
                raise ChainRevert(action, name, args, raw=str(exc), sender=signer.address) from exc
            except (ConnectionError, TimeoutError, OSError) as exc:
                if attempt == SEND_RETRIES:
                    self._nonces.pop(signer.address, None)
                    raise
                log.warning("send retry", extra={"action": action, "attempt": attempt + 1, "error": str(exc)})
                time.sleep(0.5 * 2**attempt)
            except Exception as exc:  # a JSON-RPC error object, or eth-tester's validation
                if "already known" in str(exc) or "already imported" in str(exc):
                    return bytes(signed.hash)
                # Not sent: forget the cached nonce, or the next transaction would leave a gap
                # (and wait forever behind it).
                self._nonces.pop(signer.address, None)
                refusal = _node_refusal(action, signer.address, exc)
                if refusal is None:
                    raise
                raise refusal from exc
        raise AssertionError("unreachable")

    def send_signed(
        self,
        signer: LocalAccount,
        tx: dict[str, Any],
        action: str,
        wait_timeout: float = 120,
        max_replacements: int = 3,
    ) -> Receipt:
        """Broadcast, wait for the receipt, and if none arrives in ``wait_timeout`` seconds
        replace the transaction (same nonce, fees raised 25%) up to ``max_replacements`` times.
        Whichever of the sent versions is mined is the one whose receipt is returned."""
        sent: list[bytes] = []
        receipt = None
        for replacement in range(max_replacements + 1):
            sent.append(self._broadcast(signer, tx, action))
            try:
                receipt = self._wait_for_receipt(sent[-1], timeout=wait_timeout)
                break
            except TimeExhausted:
                receipt = self._any_receipt(sent)
                if receipt is not None:
                    break
                if replacement == max_replacements:
                    raise
                tx = bump_fees(tx)
                log.warning("replacing stuck transaction", extra={"action": action, "nonce": tx.get("nonce"),
                                                                  "replacement": replacement + 1})
        tx_hash = bytes(receipt["transactionHash"])
        if receipt["status"] != 1:
            self._explain_failure(tx, receipt, action, signer.address)
            raise TransactionFailed(f"{action}: transaction {tx_hash.hex()} failed in block {receipt['blockNumber']}",
                                    sender=signer.address)
        log.info("tx mined", extra={"action": action, "tx": "0x" + tx_hash.hex(),
                                     "block": receipt["blockNumber"], "gas": receipt["gasUsed"]})
        if "logs" in receipt:  # web3's own receipt (eth-tester, or a node's answer of another shape)
            return Receipt("0x" + tx_hash.hex(), receipt["blockNumber"], receipt["gasUsed"], receipt)
        return Receipt("0x" + tx_hash.hex(), receipt["blockNumber"], receipt["gasUsed"],
                       _load_raw=lambda: self.w3.eth.get_transaction_receipt(tx_hash))

    def _receipt(self, tx_hash: bytes) -> Any:
        """A transaction's receipt, or None while it is not mined. Over HTTP only the fields the
        client reads (status, block, gas, hash) are taken from the node's JSON: web3 formats every
        log of a receipt, ~55 ms for a 200-leaf ``mintLeaves`` (half its chain time, profiled with
        ``scripts/bench_e2e.py``); :class:`Receipt` reads web3's receipt when ``raw`` is used. An
        error answer, an answer of another shape or another provider goes through web3."""
        if isinstance(self.w3.provider, HTTPProvider):
            response = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), ["0x" + tx_hash.hex()])
            if isinstance(response, dict) and "error" not in response and "result" in response:
                result = response["result"]
                if result is None:
                    return None
                try:
                    return {"transactionHash": bytes.fromhex(result["transactionHash"].removeprefix("0x")),
                            "status": int(result["status"], 16), "blockNumber": int(result["blockNumber"], 16),
                            "gasUsed": int(result["gasUsed"], 16)}
                except (KeyError, TypeError, ValueError, AttributeError):
                    pass  # not what a node sends: web3's own path says what is wrong with it
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _wait_for_receipt(self, tx_hash: bytes, timeout: float) -> Any:
        """Poll for a transaction's receipt as web3's ``wait_for_transaction_receipt`` does (every
        :data:`RECEIPT_POLL_SECONDS`, after shorter first waits), raising ``TimeExhausted`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        pause = RECEIPT_FIRST_POLL_SECONDS
        while True:
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise TimeExhausted(f"transaction 0x{tx_hash.hex()} is not in the chain after {timeout} seconds")
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(RECEIPT_POLL_SECONDS, pause * 2)

    def _any_receipt(self, hashes: list[bytes]):
        for tx_hash in hashes:
            receipt = self._receipt(tx_hash)
            if receipt is not None:
                return receipt
        return None

    # ---------------------------------------------------------------- finality
    def safe_head(self, confirmations: int, use_finalized_tag: bool = True) -> int:
        """The highest block whose events may be applied: the chain's ``finalized`` block when
        it has that tag (and it is asked for), otherwise ``latest - confirmations``."""
        latest = self.w3.eth.block_number
        if use_finalized_tag:
            try:
                return min(latest, int(self.w3.eth.get_block("finalized")["number"]))
            except Exception:  # node without the tag: fall back to a confirmation depth
                pass
        return latest - confirmations

    def block_hash(self, number: int) -> str | None:
        try:
            return "0x" + bytes(self.w3.eth.get_block(number)["hash"]).hex()
        except BlockNotFound:
            return None

    def _explain_failure(self, tx: dict[str, Any], receipt: Any, action: str, sender: str | None = None) -> None:
        """Replay a failed transaction as a call on the block before it to decode the revert."""
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block_identifier=receipt["blockNumber"] - 1)
        except REVERTS as exc:
            name, args = decode_revert(self.revert_abi, _revert_data(exc))
            raise ChainRevert(action, name, args, raw=str(exc), sender=sender) from exc
        except Exception:  # the replay itself failed: report the plain failure
            return

    def call(self, fn, action: str = "call", sender: str | None = None, gas: int | None = None,
             block: str | int = "latest"):
        """A read (or a simulation of a transaction ``sender`` would send, against ``block``:
        ``"pending"`` includes what the node has queued); reverts raise :class:`ChainRevert`."""
        params: dict[str, Any] = {}
        if sender is not None:
            params["from"] = sender
        if gas is not None:
            params["gas"] = gas
        try:
            if block != "latest":
                return fn.call(params, block_identifier=block)
            return fn.call(params) if params else fn.call()
        except REVERTS as exc:
            name, args = decode_revert(self.revert_abi, _revert_data(exc))
            raise ChainRevert(action, name, args, raw=str(exc), sender=sender) from exc

    def estimate_gas(self, fn, action: str, sender: str) -> int:
        """Gas ``sender`` would use to send ``fn`` now (reverts raise :class:`ChainRevert` with the
        contract's error)."""
        try:
            return int(fn.estimate_gas({"from": sender}))
        except REVERTS as exc:
            name, args = decode_revert(self.abi, _revert_data(exc))
            raise ChainRevert(action, name, args, raw=str(exc), sender=sender) from exc

    # ---------------------------------------------------------------- deployment
    def deploy(
        self,
        deployer: LocalAccount,
        metadata_uri: str,
        admin: str,
        registry_signer: str,
        *,
        pauser: str | None = None,
        bridge_operator: str | None = None,
        redemption_timeout: int = DEFAULT_REDEMPTION_TIMEOUT,
    ) -> Receipt:
        """Deploy ICCToken. ``pauser`` and ``bridge_operator`` default to ``admin``; the
        constructor is (metadataUri, admin, pauser, registrySigner, bridgeOperator, redemptionTimeout)."""
        receipt, self.address = self.deploy_artifact(
            deployer, self.artifact, metadata_uri, admin, pauser or admin, registry_signer, bridge_operator or admin,
            redemption_timeout,
        )
        return receipt

    def deploy_artifact(self, deployer: LocalAccount, artifact, *constructor_args: Any,
                        gas: int = 6_000_000) -> tuple[Receipt, str]:
        """Deploy a compiled contract (:func:`bridge.chain.solidity.load_artifact`); returns the
        receipt and the new contract's checksummed address."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = factory.constructor(*constructor_args).build_transaction(
            {
                "from": deployer.address,
                "chainId": self.chain_id,
                "nonce": self._next_nonce(deployer.address),
                "gas": gas,
                **self._fees(),
            }
        )
        receipt = self.send_signed(deployer, tx, f"deploy {artifact.name}")
        return receipt, to_checksum_address(receipt.raw["contractAddress"])


def new_account() -> LocalAccount:
    return Account.create()
