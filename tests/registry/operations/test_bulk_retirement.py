"""retire_many_from_custody: idempotent on the chain origin like retire_from_custody, and a
retirement custody does not cover refuses the whole call with nothing written."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from registry.bridged import custody
from registry.bridged.bulk_retirement import retire_many_from_custody
from registry.db import transaction
from registry.domain import lifecycle as lc
from registry.errors import RuleViolation
from registry.tables.core import SerialBlock
from tests.registry.operations.test_credits import _link, _snapshot, setup  # noqa: F401 - the fixture


def _retirement(world, quantity: int, log_index: int) -> custody.OnchainRetirement:
    return custody.OnchainRetirement(
        token_id=int(world["class"].token_id), quantity=quantity,
        origin=custody.ChainOrigin(chain_id=1, tx_hash="0x" + "ab" * 32, log_index=log_index, block_number=10),
        details=lc.RetirementDetails(beneficiary_name=f"B{log_index}"))


@pytest.fixture
def minted(engine, request):
    world = request.getfixturevalue("setup")  # test_credits' fixture: 1,000 ICCs and a custody account
    wallet = _link(engine, world["account"].id)
    with transaction(engine) as s:
        custody.request_tokenization(s, account_id=world["account"].id, wallet=wallet, class_id=world["class"].id,
                                     quantity=100, custody_account_id=world["custody"].id)
        for block in s.exec(select(SerialBlock).where(SerialBlock.account_id == world["custody"].id)):
            block.mirrored = True  # as the sync does when the leaf is minted
            s.add(block)
    return world


def test_recorded_origins_are_returned_not_recorded_again(engine, minted):
    with transaction(engine) as s:
        first, _, _ = custody.retire_from_custody(s, custody_account_id=minted["custody"].id,
                                                  retirement=_retirement(minted, 5, 0))
    batch = [_retirement(minted, 5, 0), _retirement(minted, 7, 1), _retirement(minted, 7, 1), _retirement(minted, 3, 2)]
    with transaction(engine) as s:
        out = retire_many_from_custody(s, custody_account_id=minted["custody"].id, retirements=batch)
    assert [o.created for o in out] == [False, True, False, True]
    assert out[0].record.id == first.id and out[2].record.id == out[1].record.id
    assert [o.serial_blocks[0][-13:] for o in out if o.created] == ["000006-000012", "000013-000015"]
    before = _snapshot(engine)
    with transaction(engine) as s:
        again = retire_many_from_custody(s, custody_account_id=minted["custody"].id, retirements=batch)
    assert not any(o.created for o in again) and _snapshot(engine) == before
    with Session(engine) as s:
        assert custody.custody_total(s, minted["custody"].id, minted["class"].id) == 100 - 15


def test_a_retirement_custody_does_not_cover_refuses_the_call(engine, minted):
    before = _snapshot(engine)
    with pytest.raises(RuleViolation) as info, transaction(engine) as s:
        retire_many_from_custody(s, custody_account_id=minted["custody"].id,
                                 retirements=[_retirement(minted, 60, 0), _retirement(minted, 41, 1)])
    assert info.value.rule == "custody-covers-supply" and "requested 41 ICCs but only 40" in str(info.value)
    assert _snapshot(engine) == before
