"""The chain client's wait for a receipt: short first pauses (a local node mines within
milliseconds), doubling up to web3's poll interval, and ``TimeExhausted`` at the timeout."""

import pytest
from web3.exceptions import TimeExhausted

from bridge.chain import client
from bridge.chain.client import Chain


def test_the_wait_for_a_receipt_starts_short_and_doubles_up_to_the_poll_interval(w3, monkeypatch):
    chain = Chain(w3)
    answers = [None] * 7 + [{"status": 1}]
    monkeypatch.setattr(chain, "_receipt", lambda tx_hash: answers.pop(0))
    pauses: list[float] = []
    monkeypatch.setattr(client.time, "sleep", pauses.append)
    assert chain._wait_for_receipt(b"\x01" * 32, timeout=60) == {"status": 1}
    assert pauses == [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1]


def test_a_receipt_that_never_comes_times_out(w3, monkeypatch):
    chain = Chain(w3)
    monkeypatch.setattr(chain, "_receipt", lambda tx_hash: None)
    with pytest.raises(TimeExhausted, match="not in the chain after 0.05 seconds"):
        chain._wait_for_receipt(b"\x02" * 32, timeout=0.05)
