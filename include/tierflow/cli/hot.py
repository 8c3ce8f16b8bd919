"""``tierflow hot`` (read, consume into and reconcile the Redis hot tier) and ``tierflow events``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli import common

hot_app = typer.Typer(
    help="The Redis hot tier: customer lookups, the event consumer, reconciliation.", no_args_is_help=True
)
get_app = typer.Typer(help="Read from the hot tier.", no_args_is_help=True)
hot_app.add_typer(get_app, name="get")
events_app = typer.Typer(help="Row-change events of the hot tables.", no_args_is_help=True)

KinesisOption = Annotated[
    str | None,
    typer.Option(
        "--kinesis-stream",
        help="Use this Kinesis stream instead of the Redis stream the policy names "
        "(default: the settings' kinesis_stream, TIERFLOW_KINESIS_STREAM).",
    ),
]


def _context(policy: Path | None, as_of: str | None = None):
    """Settings, policy, Redis client and a HotStore whose clock is --as-of (frozen), or the
    live clock without it."""
    from tierflow.hot.store import HotStore
    from tierflow.stores import redis as redis_store

    ctx = common.context(policy)
    s, pol = ctx.settings, ctx.policy
    client = redis_store.client(s.redis_url)
    if as_of:
        moment = common.parse_as_of(as_of)
        store = HotStore(client, pol, clock=lambda: moment)
    else:
        store = HotStore(client, pol)
    return s, pol, client, store


def _stream(s, pol, client, kinesis_stream: str | None, consumer: str = "consumer-1"):
    from tierflow.hot.stream import open_stream

    stream_name = kinesis_stream or s.kinesis_stream
    kinesis = None
    if stream_name:
        from tierflow.stores import aws

        kinesis = aws.client(s, "kinesis")
    return open_stream(client, pol, consumer=consumer, kinesis_stream=stream_name, kinesis_client=kinesis)


@get_app.command("customer")
def get_customer(
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    as_of: common.AsOfOption = None,
    policy: common.PolicyOption = None,
) -> None:
    """Print a customer's hot view (transactions, loans, communications, apps, features) as JSON."""
    import time

    _, _, _, store = _context(policy, as_of)
    started = time.perf_counter()
    view = store.get_customer(customer_id)
    took_ms = (time.perf_counter() - started) * 1000
    view["_lookup_ms"] = round(took_ms, 3)
    typer.echo(json.dumps(view, indent=2, default=str))


@hot_app.command("consume")
def consume(
    count: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    block: Annotated[int, typer.Option(help="Milliseconds a read waits for new events.")] = 1_000,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when a read comes back empty.")
    ] = False,
    batch: Annotated[int, typer.Option(help="Events per read (XREADGROUP COUNT).")] = 1_000,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name in the group; default host-pid.")
    ] = None,
    reclaim_idle_ms: Annotated[int, typer.Option(help="Reclaim entries pending this long.")] = 30_000,
    memory_budget: Annotated[bool, typer.Option(help="Apply the policy's hot.max_memory_mb.")] = True,
    kinesis_stream: KinesisOption = None,
    as_of: common.AsOfOption = None,
    policy: common.PolicyOption = None,
) -> None:
    """Apply row-change events to the hot tier (consumer group; SIGTERM stops it cleanly)."""
    import socket

    from tierflow.hot.consumer import HotConsumer

    s, pol, client, store = _context(policy, as_of)
    if memory_budget:
        store.apply_memory_budget()
    name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    stream = _stream(s, pol, client, kinesis_stream, consumer=name)
    worker = HotConsumer(store, stream, batch=batch, block_ms=block, reclaim_idle_ms=reclaim_idle_ms)
    worker.install_signal_handlers()
    stats = worker.run(max_events=count, until_idle=until_idle)
    typer.echo(json.dumps(stats.as_dict()))


@hot_app.command("reconcile")
def reconcile_cmd(
    as_of: common.AsOfOption = None,
    policy: common.PolicyOption = None,
) -> None:
    """Rebuild the hot window from MySQL, repair drift, trim; print and record the drift count."""
    from tierflow.hot.reconcile import reconcile

    s, _, _, store = _context(policy, as_of)
    report = reconcile(s.mysql_url, store)
    typer.echo(json.dumps(report))


@hot_app.command("dead-letters")
def dead_letters_cmd(
    count: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    policy: common.PolicyOption = None,
) -> None:
    """Show the newest dead-lettered events and why they could not be applied."""
    from tierflow.hot.consumer import dead_letters
    from tierflow.hot.store import DEAD_LETTER_SUFFIX

    _, pol, client, _ = _context(policy)
    for item in dead_letters(client, pol.hot.events_stream + DEAD_LETTER_SUFFIX, count):
        typer.echo(json.dumps(item))


@events_app.command("replay")
def replay_cmd(
    since: Annotated[
        str | None,
        typer.Option(
            help="Publish rows changed since this day's start or ISO moment (UTC) instead of the whole "
            "hot window."
        ),
    ] = None,
    table: common.TablesOption = None,
    kinesis_stream: KinesisOption = None,
    as_of: common.AsOfOption = None,
    policy: common.PolicyOption = None,
) -> None:
    """Publish the hot tables' rows (in the hot window, or changed since --since) as events."""
    from tierflow.hot.events import replay

    s, pol, client, store = _context(policy, as_of)
    stream = _stream(s, pol, client, kinesis_stream)
    published = replay(
        s.mysql_url,
        stream,
        pol,
        as_of=store.clock(),
        since=common.parse_since(since),
        tables=table,
    )
    typer.echo(json.dumps({"stream": stream.name, "published": published}))
