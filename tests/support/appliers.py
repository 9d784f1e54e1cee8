"""Making the sync's appliers refuse chosen events, one by one and in bulk alike."""

from __future__ import annotations

from bridge.engine import sync


def refuse_retirements(monkeypatch, retiree_name: str, error: BaseException) -> None:
    """``Retired`` events with this retiree name raise ``error`` when applied, whether alone
    (``APPLIERS``) or in a run (``BULK_APPLIERS``: the run raises, and the sync applies its
    group again one event at a time)."""
    real, real_run = sync.APPLIERS["Retired"], sync.BULK_APPLIERS["Retired"]

    def refuses(session, chain, deployment, entry, report):
        if entry["args"]["retireeName"] == retiree_name:
            raise error
        real(session, chain, deployment, entry, report)

    def refuses_run(session, chain, deployment, entries, report):
        if any(entry["args"]["retireeName"] == retiree_name for entry in entries):
            raise error
        real_run(session, chain, deployment, entries, report)

    monkeypatch.setitem(sync.APPLIERS, "Retired", refuses)
    monkeypatch.setitem(sync.BULK_APPLIERS, "Retired", refuses_run)
