"""Campaign communications (SMS, e-mail, push, WhatsApp) and their engagement events."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import add_us, weighted_choice
from tierflow.devdata.context import SeedContext, Sends
from tierflow.devdata.vocabulary import CAMPAIGN_THEMES


def communications(ctx: SeedContext) -> pa.Table:
    """The communications table; keeps each send's time, status and channel in ``ctx.sends``."""
    rng = ctx.rng
    cust, created, code, channel, tmpl = _campaign_sends(ctx)
    keep = created <= ctx.end_us
    order = np.argsort(created[keep], kind="stable")
    cust, created, code, channel, tmpl = [
        column[keep][order] for column in (cust, created, code, channel, tmpl)
    ]
    n = len(cust)
    u = rng.random(n)
    status = np.where(u < 0.03, "failed", np.where((u < 0.07) & (channel == "email"), "bounced", "sent"))
    status = np.where(created > ctx.end_us - np.timedelta64(1, "h"), "queued", status)
    ctx.sends = Sends(created=created, status=status, channel=channel)
    updated = np.minimum(add_us(created, rng.integers(1_000_000, 120_000_000, n)), ctx.end_us)
    return pa.table(
        {
            "id": np.arange(1, n + 1, dtype=np.uint64),
            "customer_id": (cust + 1).astype(np.uint64),
            "campaign_code": code,
            "channel": channel,
            "template_code": tmpl,
            "status": status,
            "created_at": created,
            "updated_at": np.maximum(updated, created),
        }
    )


def _campaign_sends(ctx: SeedContext) -> tuple[np.ndarray, ...]:
    """Every month's campaigns to a share of the customers signed up by mid-month: customer,
    send time, campaign code, channel and template of each send, in campaign order."""
    rng = ctx.rng
    start_m = ctx.clock.start.astype("datetime64[M]")
    end_m = ctx.end_us.astype("datetime64[M]")
    cust_parts, at_parts, code_parts, chan_parts, tmpl_parts = [], [], [], [], []
    for m in np.arange(start_m, end_m + 1):
        m_start = m.astype("datetime64[us]")
        eligible = np.flatnonzero(ctx.customers.created < m_start + np.timedelta64(15, "D"))
        if len(eligible) == 0:
            continue
        for j in range(ctx.scale.campaigns_per_month):
            theme = CAMPAIGN_THEMES[(int(m.astype(int)) * 7 + j) % len(CAMPAIGN_THEMES)]
            mm = str(m)
            if theme == "FESTIVE_OFFER" and not mm.endswith(("-10", "-11")):
                theme = "LIMIT_UPGRADE"
            code = f"{theme}_{mm.replace('-', '_')}_{j + 1}"
            reach = rng.random(len(eligible)) < ctx.scale.campaign_reach
            who = eligible[reach]
            day = rng.integers(0, 27)
            send = m_start + np.timedelta64(int(day), "D") + np.timedelta64(10, "h")
            t = add_us(np.full(len(who), send), rng.integers(0, 4 * 3600_000_000, len(who)))
            channel = np.array(["sms", "email", "push", "whatsapp"])[
                (j + weighted_choice(rng, 1, [4, 3, 2, 2])[0]) % 4
            ]
            cust_parts.append(who)
            at_parts.append(t)
            code_parts.append(np.full(len(who), code))
            chan_parts.append(np.full(len(who), channel))
            tmpl_parts.append(np.full(len(who), f"{theme.lower()}_v{1 + j % 3}"))
    return tuple(np.concatenate(p) for p in (cust_parts, at_parts, code_parts, chan_parts, tmpl_parts))


# Funnel steps: each follows the one before it, the other events follow the send.
_FUNNEL_STEPS = ("delivered", "opened", "clicked")


def communication_events(ctx: SeedContext) -> pa.Table:
    """Engagement events of the sends: sent, delivered, opened, clicked, bounced, failed."""
    rng = ctx.rng
    c = ctx.sends
    n = len(c.created)
    sent = c.status == "sent"
    delivered = sent & (rng.random(n) < np.where(c.channel == "email", 0.88, 0.95))
    opened = delivered & (rng.random(n) < np.where(c.channel == "sms", 0.0, 0.35))
    clicked = delivered & (rng.random(n) < np.where(opened, 0.25, np.where(c.channel == "sms", 0.04, 0.0)))
    bounced = c.status == "bounced"
    failed = c.status == "failed"
    kinds = [
        ("sent", sent | bounced, 0, 5),
        ("delivered", delivered, 5, 300),
        ("opened", opened, 300, 3 * 86400),
        ("clicked", clicked, 3 * 86400, 4 * 86400),
        ("bounced", bounced, 5, 60),
        ("failed", failed, 1, 30),
    ]
    comm, created, etype = _event_times(ctx, kinds)
    m = len(comm)
    # numpy's stubs take no None as a scalar, numpy does (an object array)
    meta = np.where(etype == "clicked", '{"link":"offer","utm_source":"campaign"}', None)  # type: ignore[call-overload]
    return pa.table(
        {
            "id": np.arange(1, m + 1, dtype=np.uint64),
            "communication_id": (comm + 1).astype(np.uint64),
            "event_type": etype,
            "metadata": pa.array(meta, type=pa.string()),
            "created_at": created,
        }
    )


def _event_times(ctx: SeedContext, kinds: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each event's communication, time and type, by the end date and in time order."""
    rng, sends = ctx.rng, ctx.sends.created
    ids, types, times = [], [], []
    prev = sends.copy()
    for name, mask, lo, hi in kinds:
        idx = np.flatnonzero(mask)
        base = prev[idx] if name in _FUNNEL_STEPS else sends[idx]
        t = add_us(base, rng.integers(lo * 1_000_000 + 1, hi * 1_000_000 + 2, len(idx)))
        if name in _FUNNEL_STEPS:
            prev[idx] = t
        ids.append(idx)
        types.append(np.full(len(idx), name))
        times.append(t)
    comm, created, etype = np.concatenate(ids), np.concatenate(times), np.concatenate(types)
    keep = created <= ctx.end_us
    comm, created, etype = comm[keep], created[keep], etype[keep]
    order = np.argsort(created, kind="stable")
    return comm[order], created[order], etype[order]
