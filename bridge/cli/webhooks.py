"""``icr-bridge webhooks``: the delivery worker, the delivery log and manual redelivery."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from bridge import logs
from bridge.cli.errors import ConfigError
from bridge.cli.options import (
    LogLevel,
    PublicUrlOption,
    ServiceDbOption,
    console,
    open_registry,
    public_url_or_exit,
)
from registry.db import transaction

app = typer.Typer(help="Marketplace webhooks: deliver due events, inspect the delivery log, redeliver.",
                  no_args_is_help=True)



@app.command("deliver")
def deliver(
    db: ServiceDbOption = None,
    once: Annotated[bool, typer.Option("--once", help="Attempt every due delivery once, then exit.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep delivering until interrupted.")] = False,
    poll_interval: Annotated[float, typer.Option("--poll-interval", min=0.05, help="Seconds between passes (--follow).")] = 2.0,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="Give up after this many attempts.")] = 10,
    backoff: Annotated[float, typer.Option("--backoff", min=0, help="Seconds before the 2nd attempt; doubles after.")] = 30.0,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a receiver.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the pass report as JSON (--once).")] = False,
    public_url: PublicUrlOption = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Send due webhook deliveries (ICR scheme: signedData + x-icr-signature-256, and the
    Standard Webhooks headers), retrying failures with exponential backoff. Exactly one of
    --once and --follow; --public-url (ICR_PUBLIC_URL) makes the payloads' links absolute."""
    from bridge.webhooks.worker import RetryPolicy, deliver_due, deliver_forever

    if once == follow:
        raise ConfigError("--once/--follow: give exactly one of them")
    public_url = public_url_or_exit(public_url, required=True)
    logs.configure(log_level)
    engine = open_registry(db)
    policy = RetryPolicy(base_seconds=backoff, max_attempts=max_attempts, timeout_seconds=timeout)
    if once:
        report = deliver_due(engine, public_url=public_url, policy=policy)
        if as_json:
            sys.stdout.write(json.dumps(report.as_json()) + "\n")
        else:
            console.print(f"attempted {report.attempted}: delivered {report.delivered}, retrying {report.retrying}, "
                          f"failed {report.failed}")
        return
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    console.print(f"delivering webhooks every {poll_interval}s (Ctrl-C to stop)")
    deliver_forever(engine, public_url=public_url, policy=policy, poll_interval=poll_interval, should_stop=lambda: stop["now"])


@app.command("redeliver")
def redeliver(
    delivery_id: Annotated[str, typer.Argument(help="Delivery id (x-icr-delivery) to deliver again.")],
    db: ServiceDbOption = None,
) -> None:
    """Queue a new delivery of the same event to the same subscription (the worker sends it)."""
    from bridge.webhooks.outbox import redeliver as redeliver_op
    from registry.errors import RegistryError

    engine = open_registry(db)
    try:
        with transaction(engine) as session:
            delivery = redeliver_op(session, delivery_id)
            new_id = delivery.delivery_id
    except RegistryError as exc:
        raise ConfigError(f"{'DELIVERY_ID' if exc.field == 'delivery_id' else exc.field}: {exc.detail}")
    console.print(f"queued delivery {new_id} (redelivers {delivery_id})")


@app.command("log")
def delivery_log(
    db: ServiceDbOption = None,
    subscription: Annotated[Optional[int], typer.Option("--subscription", help="Only this subscription.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest deliveries with their status, attempts and last answer."""
    from sqlmodel import Session, select

    from bridge.webhooks.tables import WebhookDelivery, WebhookEvent

    engine = open_registry(db)
    with Session(engine) as session:
        stmt = select(WebhookDelivery, WebhookEvent).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        if subscription is not None:
            stmt = stmt.where(WebhookDelivery.subscription_id == subscription)
        rows = session.exec(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)).all()
    items = [{"delivery_id": d.delivery_id, "event": e.kind, "event_id": e.event_id, "subscription_id": d.subscription_id,
              "status": d.status.value, "attempts": d.attempts, "last_status_code": d.last_status_code,
              "last_error": d.last_error} for d, e in rows]
    if as_json:
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
        return
    table = Table(title="Webhook deliveries (newest first)")
    for col in ("delivery", "event", "subscription", "status", "attempts", "last answer"):
        table.add_column(col)
    for i in items:
        answer = str(i["last_status_code"]) if i["last_status_code"] is not None else (i["last_error"] or "—")
        table.add_row(i["delivery_id"], i["event"], str(i["subscription_id"]), i["status"], str(i["attempts"]), answer)
    console.print(table)
