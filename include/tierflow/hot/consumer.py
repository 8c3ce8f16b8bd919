"""The hot-tier consumer: reads events in batches, applies them, acks them, dead-letters bad ones.

At-least-once delivery made exact by the store: entries read but not acked (the consumer was killed)
are delivered again and applied again, which changes nothing that was already applied. No single
message stops it: whatever fails for one message (its size, encoding, nesting, fields, clock, its
apply) dead-letters that message with the reason, and a message delivered more than
``hot.max_deliveries`` times is dead-lettered instead of tried again. Messages delivered before are
applied one at a time, so one that keeps failing is not retried together with those behind it.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tierflow.hot.events import EventError, FastDecoder, parse_event, row_json
from tierflow.hot.store import DEAD_LETTER_SUFFIX, HotStore
from tierflow.hot.stream import Message
from tierflow.log import get_logger

log = get_logger(__name__)


@dataclass
class Prepared:
    """A decoded batch: (customer, ops) plans, dead letters with reasons, each customer's messages."""

    plans: list[tuple[int, list[tuple]]]
    dead: list[tuple[Message, str]]
    sources: dict[int, list[Message]]


@dataclass
class ConsumerStats:
    batches: int = 0
    events: int = 0
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        rate = self.events / self.seconds if self.seconds else 0.0
        return {
            "batches": self.batches,
            "events": self.events,
            "applied": self.applied,
            "skipped": self.skipped,
            "dead_lettered": self.dead_lettered,
            "reclaimed": self.reclaimed,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(rate),
            "stopped_by": self.stopped_by,
        }


class HotConsumer:
    """One member of the consumer group that keeps the hot tier current."""

    def __init__(
        self,
        store: HotStore,
        stream: Any,
        *,
        batch: int = 1_000,
        block_ms: int = 1_000,
        reclaim_idle_ms: int = 30_000,
        reclaim_every_s: float = 10.0,
        dead_letter_stream: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.stream = stream
        self.batch = batch
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        self.reclaim_every_s = reclaim_every_s
        self.dead_letter_stream = dead_letter_stream or (store.policy.hot.events_stream + DEAD_LETTER_SUFFIX)
        self.stats = ConsumerStats()
        self._stopping = False
        self._last_reclaim = float("-inf")
        self._decoder = FastDecoder(store.policy, store.table_numbers())
        self.now = now  # the clock that versions and row times may not run ahead of (epoch seconds)

    def stop(self, *_: Any) -> None:
        """Finish the batch in hand, ack it, and return (the SIGTERM/SIGINT handler)."""
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def prepare(self, messages: list[Message]) -> Prepared:
        """Decode and validate a batch (CPU only): the ops to apply grouped by customer, in the
        apply script's form, and the dead letters with their reasons."""
        decode = self._decoder.decode
        hot = self.store.policy.hot
        now = self.now()
        by_customer: dict[int, list[tuple]] = {}
        sources: dict[int, list[Message]] = {}
        dead: list[tuple[Message, str]] = []
        for message in messages:
            if message.deliveries > hot.max_deliveries:
                dead.append(
                    (
                        message,
                        f"delivered {message.deliveries} times without being applied "
                        f"(hot.max_deliveries is {hot.max_deliveries})",
                    )
                )
                continue
            try:
                op = decode(message.payload, now)
                if op is None:
                    op = self._parse(message.payload, now)
            except EventError as exc:
                dead.append((message, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever one message raises, it alone is refused
                dead.append((message, f"cannot decode: {type(exc).__name__}: {exc}"[:500]))
                continue
            ops = by_customer.get(op[0])
            if ops is None:
                by_customer[op[0]] = ops = []
                sources[op[0]] = []
            ops.append(op[1:])
            sources[op[0]].append(message)
        plans = []
        for customer_id, ops in by_customer.items():
            if len(ops) > 1:
                ops = coalesce(ops)
            plans.append((customer_id, ops))
        return Prepared(plans, dead, sources)

    def _parse(self, payload: bytes, now: float) -> tuple:
        """Not for the fast path: the full parser accepts it, or says why not."""
        event = parse_event(payload, self.store.policy, now=now)
        return (
            event.customer_id,
            self.store.table_number(event.table),
            event.op,
            str(event.pk),
            str(event.version),
            f"{event.ts:.6f}",
            row_json(event.row),
        )

    def commit(self, messages: list[Message], prepared: Prepared) -> dict:
        """Apply a prepared batch, then dead-letter and ack it. Events that a later version of the
        same row in the batch superseded count as skipped. A customer whose apply fails (a script
        error, such as a key of the wrong type) has its messages dead-lettered with the error."""
        self.stream.begin(messages)
        result, failed = self.store.apply_plans(prepared.plans)
        dead = list(prepared.dead)
        for customer_id, reason in failed.items():
            dead.extend((m, reason) for m in prepared.sources[customer_id])
        # Only once the batch is applied: dead letters, then the ack. A crash before this point
        # leaves the batch pending, to be delivered and applied again (a no-op where it landed).
        pipe = self.store.client.pipeline(transaction=False)
        limit = self.store.policy.hot.max_event_bytes
        for message, reason in dead:
            pipe.xadd(
                self.dead_letter_stream,
                {
                    "reason": reason,
                    "source_id": message.id,
                    "deliveries": message.deliveries,
                    "payload_bytes": len(message.payload),
                    "payload": message.payload[:limit],
                },
                maxlen=100_000,
                approximate=True,
            )
        if dead:
            pipe.execute()
            pipe = self.store.client.pipeline(transaction=False)
        self.stream.ack([m.id for m in messages], pipe=pipe)
        pipe.execute()
        self.stats.batches += 1
        self.stats.events += len(messages)
        self.stats.applied += result["applied"]
        self.stats.skipped += len(messages) - len(dead) - result["applied"]
        self.stats.dead_lettered += len(dead)
        for message, reason in dead:
            log.warning("event_dead_lettered", reason=reason, source_id=message.id)
        return result

    def process(self, messages: list[Message]) -> dict[str, int]:
        """Apply one batch, dead-letter what cannot be applied, then ack all of it. A batch with a
        message delivered before goes one message at a time (see the module docstring)."""
        if any(m.deliveries > 1 for m in messages):
            total: dict[str, int] = {}
            for message in messages:
                for key, value in self.commit([message], self.prepare([message])).items():
                    total[key] = total.get(key, 0) + value
            return total
        return self.commit(messages, self.prepare(messages))

    def fetch(self, block_ms: int | None = None, in_flight: Future | None = None) -> list[Message]:
        """Stale pending entries when a reclaim is due (after the batch in flight is acked, so it
        is never reclaimed by its own consumer), else new entries."""
        now = time.monotonic()
        if now - self._last_reclaim >= self.reclaim_every_s:
            if in_flight is not None:
                in_flight.result()
            self._last_reclaim = now
            stale = self.stream.reclaim(self.reclaim_idle_ms, self.batch)
            if stale:
                self.stats.reclaimed += len(stale)
                log.info("events_reclaimed", count=len(stale))
                self._last_reclaim = float("-inf")  # there may be more
                return stale
        return self.stream.read(self.batch, self.block_ms if block_ms is None else block_ms)

    def poll_once(self, block_ms: int | None = None) -> int:
        """Fetch one batch and process it; return how many entries it had."""
        messages = self.fetch(block_ms)
        if messages:
            self.process(messages)
        return len(messages)

    def run(self, *, max_events: int | None = None, until_idle: bool = False) -> ConsumerStats:
        """Consume until stopped, until ``max_events`` are processed, or (``until_idle``) until a
        read comes back empty.

        Two stages overlap: while batch N is applied and acked (a worker thread, waiting on Redis),
        batch N+1 is read and decoded. Batch N+1 is applied only after batch N is acked.
        """
        started = time.monotonic()
        seen = 0
        in_flight: Future | None = None
        log.info("hot_consumer_started", stream=self.stream.name, batch=self.batch)
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hot-apply") as pool:
                while True:
                    if self._stopping:
                        self.stats.stopped_by = "signal"
                        break
                    if max_events is not None and seen >= max_events:
                        self.stats.stopped_by = "count"
                        break
                    messages = self.fetch(in_flight=in_flight)
                    redelivered = any(m.deliveries > 1 for m in messages)
                    prepared = self.prepare(messages) if messages and not redelivered else None
                    if in_flight is not None:
                        in_flight.result()
                        in_flight = None
                    if redelivered:
                        seen += len(messages)
                        self.process(messages)
                    elif prepared is not None:
                        seen += len(messages)
                        in_flight = pool.submit(self.commit, messages, prepared)
                    elif until_idle:
                        self.stats.stopped_by = "idle"
                        break
                if in_flight is not None:
                    in_flight.result()
        finally:
            self.stats.seconds = time.monotonic() - started
            self.stream.release()  # a Kinesis consumer's shard leases go to the others now
            log.info("hot_consumer_stopped", **self.stats.as_dict())
        return self.stats


def coalesce(ops: list[tuple]) -> list[tuple]:
    """One customer's ops of a batch, with only the highest version of each row kept.

    Applying a row's versions one after another leaves what applying the highest alone leaves
    (lower versions are either overwritten by it or skipped after it), features included, so a
    batch that carries a payment's ``initiated`` and ``success`` applies one write, not two.
    Ops are (table no, op, pk, version, ts, row) with the version as decimal text.
    """
    latest: dict[tuple, tuple] = {}
    for op in ops:
        key = (op[0], op[2])
        kept = latest.get(key)
        if kept is None or int(op[3]) > int(kept[3]):
            latest[key] = op
    if len(latest) == len(ops):
        return ops
    return list(latest.values())


def dead_letters(client: Any, stream: str, count: int = 100) -> list[dict[str, str]]:
    """The latest dead-lettered events with their reasons, newest first."""
    out = []
    for entry_id, fields in client.xrevrange(stream, count=count):
        item = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
        item["id"] = entry_id.decode()
        out.append(item)
    return out


def describe(stats: ConsumerStats) -> str:
    return json.dumps(stats.as_dict())
