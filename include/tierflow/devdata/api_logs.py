"""API request logs: the lending app's traffic, kept forever by the source (what the archive is for)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import hex_digits, join, weighted_choice
from tierflow.devdata.context import SeedContext
from tierflow.devdata.vocabulary import API_PATHS, USER_AGENTS


def api_request_logs(ctx: SeedContext) -> pa.Table:
    rng = ctx.rng
    n = int(ctx.scale.customers * ctx.scale.api_logs_per_customer)
    created = ctx.clock.times(n)
    # Logs only exist for the recent past in practice, but the source keeps everything forever:
    # that is exactly what the archive tier is for.
    p = weighted_choice(rng, n, [x[2] for x in API_PATHS])
    method = np.array([x[0] for x in API_PATHS])[p]
    cust = rng.integers(1, ctx.scale.customers + 1, n).astype(np.uint64)
    templates = np.array([x[1] for x in API_PATHS])
    head = np.array([t.split("{id}")[0] for t in templates])[p]
    tail = np.array([t.split("{id}")[1] if "{id}" in t else "" for t in templates])[p]
    has_id = np.array(["{id}" in t for t in templates])[p]
    path = join(head, np.where(has_id, cust.astype(str), ""), tail)
    status_code = np.array([200, 201, 400, 401, 404, 429, 500, 502, 503])[
        weighted_choice(rng, n, [80, 5, 4, 3, 3, 1, 2, 1, 1])
    ]
    latency = np.clip(rng.lognormal(4.3, 0.8, n), 3, 30000).astype(np.int64)
    anon = rng.random(n) < 0.1
    ip = join("10.", rng.integers(0, 255, n), ".", rng.integers(0, 255, n), ".", rng.integers(1, 255, n))
    ua = np.array(USER_AGENTS)[rng.integers(0, len(USER_AGENTS), n)]
    request_id = join(
        hex_digits(rng.integers(0, 2**62, n, dtype=np.int64), 16),
        hex_digits(rng.integers(0, 2**62, n, dtype=np.int64), 16),
    )
    return pa.table(
        {
            "id": np.arange(1, n + 1, dtype=np.uint64),
            "request_id": request_id,
            "customer_id": pa.array(cust, mask=anon),
            "method": method,
            "path": path,
            "status_code": status_code,
            "latency_ms": latency,
            "client_ip": ip,
            "user_agent": ua,
            "created_at": created,
        }
    )
