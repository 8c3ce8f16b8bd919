"""The event stream behind one interface: Redis Streams locally, Amazon Kinesis in production.

A consumer reads a batch, applies it, then acks it; what is not acked is delivered again (Redis:
pending entries reclaimed with XCLAIM; Kinesis: the checkpoint stays behind it). Each message says
how often it was delivered (Redis: the entry's delivery count; Kinesis: the attempts recorded per
sequence number), so a consumer can dead-letter one that keeps failing instead of retrying it forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from tierflow.hot.scripts import lua
from tierflow.log import get_logger

log = get_logger(__name__)

DEFAULT_GROUP = "hot-tier"
DEFAULT_MAXLEN = 2_000_000


@dataclass(frozen=True)
class Message:
    id: str
    payload: bytes
    deliveries: int = 1  # this delivery included


class Stream(Protocol):
    """What producers and the hot-tier consumer need from a stream."""

    name: str

    def publish(self, payloads: list[bytes], keys: list[str] | None = None) -> list[str]: ...

    def read(self, count: int, block_ms: int) -> list[Message]: ...

    def ack(self, ids: list[str], pipe: Any | None = None) -> None: ...

    def begin(self, messages: list[Message]) -> None:
        """The consumer starts applying these: an attempt that counts if it never acks them."""
        ...

    def reclaim(self, min_idle_ms: int, count: int) -> list[Message]: ...

    def lag(self) -> int | None: ...

    def release(self) -> None:
        """A consumer stops: give up what it holds of a shared stream."""
        ...


class RedisStream:
    """A Redis stream read through a consumer group (created on first use, from the start)."""

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        group: str = DEFAULT_GROUP,
        consumer: str = "consumer-1",
        maxlen: int = DEFAULT_MAXLEN,
    ) -> None:
        self.client = client
        self.name = name
        self.group = group
        self.consumer = consumer
        self.maxlen = maxlen
        self._group_ready = False
        self._reclaim_cursor = "-"

    def ensure_group(self) -> None:
        import redis

        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        # Join the group now, so operators (XINFO CONSUMERS) see a consumer before its first entry.
        self.client.xgroup_createconsumer(self.name, self.group, self.consumer)
        self._group_ready = True

    def publish(self, payloads: list[bytes], keys: list[str] | None = None) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(self.name, {"e": payload}, maxlen=self.maxlen, approximate=True)
        return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]

    def read(self, count: int, block_ms: int) -> list[Message]:
        import redis

        self.ensure_group()
        try:
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.name: ">"}, count=count, block=block_ms or None
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream was deleted (or Redis restarted empty): recreate the group and carry on.
            self._group_ready = False
            self.ensure_group()
            return []
        messages = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                payload = fields.get(b"e")
                if payload is None:
                    messages.append(_message(entry_id, fields))
                else:
                    messages.append(Message(entry_id.decode(), payload))
        return messages

    def ack(self, ids: list[str], pipe: Any | None = None) -> None:
        if ids:
            (pipe or self.client).xack(self.name, self.group, *ids)

    def begin(self, messages: list[Message]) -> None:
        """Nothing to record: Redis counts each entry's deliveries itself."""

    def reclaim(self, min_idle_ms: int, count: int) -> list[Message]:
        """Take over entries read but never acked (their consumer crashed), with their delivery
        counts (XPENDING, then XCLAIM). An entry delivered more than once already may be what stops
        its consumers: it is claimed alone, so the entries behind it are not delivered again with it."""
        self.ensure_group()
        pending = self.client.xpending_range(
            self.name, self.group, min=self._reclaim_cursor, max="+", count=count, idle=min_idle_ms
        )
        take: list[dict[str, Any]] = []
        for entry in pending:
            if entry["times_delivered"] > 1 and take:
                break
            take.append(entry)
            if entry["times_delivered"] > 1:
                break
        if len(take) == len(pending) < count:
            self._reclaim_cursor = "-"  # the end: start again from the oldest next time
        else:
            self._reclaim_cursor = "(" + _text(take[-1]["message_id"])
        if not take:
            return []
        deliveries = {_text(e["message_id"]): int(e["times_delivered"]) + 1 for e in take}
        claimed = self.client.xclaim(
            self.name, self.group, self.consumer, min_idle_ms, [e["message_id"] for e in take]
        )
        # Entries deleted from the stream are not returned (Redis drops them from the pending list).
        messages = []
        for entry_id, fields in claimed:
            if fields:
                m = _message(entry_id, fields)
                messages.append(Message(m.id, m.payload, deliveries.get(m.id, 2)))
        return messages

    def lag(self) -> int | None:
        self.ensure_group()
        for group in self.client.xinfo_groups(self.name):
            if _text(group["name"]) == self.group:
                lag = group.get("lag")
                return int(lag) if lag is not None else None
        return None

    def pending(self) -> int:
        self.ensure_group()
        return int(self.client.xpending(self.name, self.group)["pending"])

    def release(self) -> None:
        """Nothing to give up: the consumer group hands out entries, not partitions."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _message(entry_id: Any, fields: dict) -> Message:
    payload = fields.get(b"e", fields.get("e", b""))
    return Message(_text(entry_id), payload if isinstance(payload, bytes) else str(payload).encode())


# Lease and checkpoint scripts (Redis is the consumer group's coordinator, as DynamoDB is KCL's):
# lua/lease_renew.lua, lua/lease_release.lua and lua/checkpoint.lua say what each takes.
_RENEW_LUA = lua("lease_renew.lua")
_RELEASE_LUA = lua("lease_release.lua")
_CHECKPOINT_LUA = lua("checkpoint.lua")


class KinesisStream:
    """An Amazon Kinesis data stream read by a group of consumers that share its shards.

    Each shard is leased to one consumer of the group at a time (a Redis key with a TTL, renewed
    while the consumer reads); live consumers announce themselves, and each holds at most its fair
    share (shards / live consumers, rounded up), so a consumer that joins gets shards released by
    the others and a consumer that dies loses its leases when they expire. Per shard the position
    is checkpointed in Redis: ``ack`` moves it forward to the highest acked sequence number, so a
    new holder resumes after the last applied batch. A shard may be read twice while a lease moves
    (the old holder's batch in flight); the hot tier's versioned apply makes that harmless. There
    are no pending entries to reclaim: ``reclaim`` returns nothing and redelivery comes from the
    checkpoint. Production could use enhanced fan-out (SubscribeToShard); here shards are polled.
    """

    def __init__(
        self,
        name: str,
        *,
        checkpoints: Any,
        group: str = DEFAULT_GROUP,
        endpoint_url: str | None = None,
        region: str = "ap-south-1",
        client: Any | None = None,
        poll_interval_s: float = 0.2,
        consumer: str = "consumer-1",
        lease_ms: int = 10_000,
    ) -> None:
        import boto3

        self.name = name
        self.group = group
        self.consumer = consumer
        self.kinesis = client or boto3.client("kinesis", endpoint_url=endpoint_url, region_name=region)
        self.checkpoints = checkpoints
        self.checkpoint_key = f"tierflow:kinesis:checkpoint:{name}:{group}"
        self.lease_prefix = f"tierflow:kinesis:lease:{name}:{group}:"
        self.members_key = f"tierflow:kinesis:members:{name}:{group}"
        self.attempts_key = f"tierflow:kinesis:attempts:{name}:{group}"
        self.lease_ms = lease_ms
        self.poll_interval_s = poll_interval_s
        self._iterators: dict[str, str | None] = {}
        self._owned: list[str] = []
        self._balanced_at = float("-inf")
        self._renew = checkpoints.register_script(_RENEW_LUA)
        self._release = checkpoints.register_script(_RELEASE_LUA)
        self._checkpoint = checkpoints.register_script(_CHECKPOINT_LUA)

    def create(self, shards: int = 1) -> None:
        """Create the stream if missing and wait until it is active (for tests and local runs)."""
        try:
            self.kinesis.create_stream(StreamName=self.name, ShardCount=shards)
        except self.kinesis.exceptions.ResourceInUseException:
            pass
        self.kinesis.get_waiter("stream_exists").wait(
            StreamName=self.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
        )

    def publish(self, payloads: list[bytes], keys: list[str] | None = None) -> list[str]:
        keys = keys or ["0"] * len(payloads)
        ids: list[str] = []
        for start in range(0, len(payloads), 500):  # PutRecords takes at most 500 records
            records = [
                {"Data": p, "PartitionKey": k}
                for p, k in zip(payloads[start : start + 500], keys[start : start + 500], strict=True)
            ]
            reply = self.kinesis.put_records(StreamName=self.name, Records=records)
            if reply.get("FailedRecordCount"):
                failed = [r for r in reply["Records"] if "ErrorCode" in r]
                raise RuntimeError(
                    f"Kinesis stream {self.name}: {len(failed)} records were throttled or failed "
                    f"({failed[0].get('ErrorCode')}); publish them again"
                )
            ids.extend(f"{r['ShardId']}/{r['SequenceNumber']}" for r in reply["Records"])
        return ids

    def _shards(self) -> list[str]:
        shards = self.kinesis.list_shards(StreamName=self.name)["Shards"]
        return [s["ShardId"] for s in shards]

    def owned_shards(self, *, force: bool = False) -> list[str]:
        """The shards this consumer reads now. Every third of a lease (or when ``force``d): say it
        is alive, renew its leases up to its fair share, release the rest, take free ones."""
        now = time.monotonic()
        if not force and now - self._balanced_at < self.lease_ms / 3000:
            return self._owned
        self._balanced_at = now
        r = self.checkpoints
        wall_ms = int(time.time() * 1000)
        r.zadd(self.members_key, {self.consumer: wall_ms})
        r.zremrangebyscore(self.members_key, "-inf", wall_ms - self.lease_ms)
        shards = self._shards()
        fair = -(-len(shards) // max(1, r.zcard(self.members_key)))
        keep = [s for s in shards if s in self._owned][:fair]
        for shard in self._owned:
            if shard not in keep:
                self._release(keys=[self.lease_prefix + shard], args=[self.consumer])
        owned = [s for s in keep if self._hold(s)]
        for shard in shards:
            if len(owned) >= fair:
                break
            if shard not in owned and self._hold(shard):
                owned.append(shard)
        for shard in set(self._iterators) - set(owned):
            del self._iterators[shard]  # a shard taken again later restarts from its checkpoint
        self._owned = owned
        return owned

    def _hold(self, shard: str) -> bool:
        """Take the shard's lease if it is free, renew it if it is ours."""
        return bool(self._renew(keys=[self.lease_prefix + shard], args=[self.consumer, self.lease_ms]))

    def release(self) -> None:
        """Give up every lease and leave the group (a graceful stop): the others take over now."""
        for shard in self._owned:
            self._release(keys=[self.lease_prefix + shard], args=[self.consumer])
        self.checkpoints.zrem(self.members_key, self.consumer)
        self._owned, self._iterators = [], {}
        self._balanced_at = float("-inf")

    def _iterator(self, shard: str) -> str | None:
        if shard not in self._iterators:
            done = self.checkpoints.hget(self.checkpoint_key, shard)
            if done:
                it = self.kinesis.get_shard_iterator(
                    StreamName=self.name,
                    ShardId=shard,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    StartingSequenceNumber=_text(done),
                )
            else:
                it = self.kinesis.get_shard_iterator(
                    StreamName=self.name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )
            self._iterators[shard] = it["ShardIterator"]
        return self._iterators[shard]

    def read(self, count: int, block_ms: int) -> list[Message]:
        deadline = time.monotonic() + block_ms / 1000
        while True:
            messages: list[Message] = []
            for shard in self.owned_shards():
                iterator = self._iterator(shard)
                if iterator is None:
                    continue
                reply = self.kinesis.get_records(ShardIterator=iterator, Limit=min(count, 10_000))
                self._iterators[shard] = reply.get("NextShardIterator")
                messages.extend(
                    Message(f"{shard}/{r['SequenceNumber']}", r["Data"]) for r in reply["Records"]
                )
            if messages or time.monotonic() >= deadline:
                return self._with_deliveries(messages)
            time.sleep(self.poll_interval_s)

    def _with_deliveries(self, messages: list[Message]) -> list[Message]:
        """Each message with one more delivery than the attempts recorded for its sequence number."""
        if not messages:
            return messages
        tried = self.checkpoints.hmget(self.attempts_key, [m.id for m in messages])
        return [
            Message(m.id, m.payload, int(n) + 1) if n else m for m, n in zip(messages, tried, strict=True)
        ]

    def begin(self, messages: list[Message]) -> None:
        """Record an attempt per sequence number: if the consumer dies before the ack, the next
        delivery knows. Kept a week at most; the ack removes them."""
        if not messages:
            return
        pipe = self.checkpoints.pipeline(transaction=False)
        for m in messages:
            pipe.hincrby(self.attempts_key, m.id, 1)
        pipe.expire(self.attempts_key, 7 * 86_400)
        pipe.execute()

    def ack(self, ids: list[str], pipe: Any | None = None) -> None:
        highest: dict[str, str] = {}
        for message_id in ids:
            shard, _, seq = message_id.partition("/")
            if shard not in highest or int(seq) > int(highest[shard]):
                highest[shard] = seq
        if highest:
            args = [v for shard, seq in highest.items() for v in (shard, seq)]
            self._checkpoint(keys=[self.checkpoint_key], args=args, client=pipe or self.checkpoints)
            (pipe or self.checkpoints).hdel(self.attempts_key, *ids)

    def reclaim(self, min_idle_ms: int, count: int) -> list[Message]:
        return []

    def lag(self) -> int | None:
        return None


def open_stream(
    redis_client: Any,
    policy: Any,
    *,
    consumer: str = "consumer-1",
    kinesis_stream: str | None = None,
    endpoint_url: str | None = None,
    region: str = "ap-south-1",
    kinesis_client: Any | None = None,
) -> RedisStream | KinesisStream:
    """The events stream the policy names, on Redis; on Kinesis when ``kinesis_stream`` is given
    (through ``kinesis_client`` when the caller built it from its settings)."""
    if kinesis_stream:
        return KinesisStream(
            kinesis_stream,
            checkpoints=redis_client,
            endpoint_url=endpoint_url,
            region=region,
            consumer=consumer,
            client=kinesis_client,
        )
    return RedisStream(redis_client, policy.hot.events_stream, consumer=consumer)
