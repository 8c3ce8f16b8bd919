"""Great Expectations gates: load a suite from ``expectations/<gate>/<dataset>.json`` and validate.

Every gate (archive, warehouse, ...) uses the same two public pieces: ``load_suite`` and
``QualityGateError``, whose message names the dataset, each failing expectation and sample values.
GX is imported inside functions so that ``import tierflow`` stays light.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationFailure:
    type: str
    column: str | None
    kwargs: dict[str, Any]
    unexpected_count: int | None = None
    sample_values: list[Any] = field(default_factory=list)
    sample_keys: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        args = {k: v for k, v in self.kwargs.items() if k not in {"column", "batch_id"}}
        text = f"{self.type}{where}"
        if args:
            text += f" {args}"
        if self.unexpected_count is not None:
            text += f": {self.unexpected_count} failing row(s)"
        if self.sample_values:
            text += f"; sample values {self.sample_values}"
        if self.sample_keys:
            text += f"; sample rows {self.sample_keys}"
        return text


class QualityGateError(TierflowError):
    """A dataset failed its expectation suite; ``failures`` lists each failing expectation."""

    def __init__(self, dataset: str, failures: list[ExpectationFailure], suite_path: Path | None = None):
        self.dataset = dataset
        self.failures = failures
        self.suite_path = suite_path
        lines = [
            f"quality gate failed for {dataset}: {len(failures)} expectation(s) not met"
            + (f" (suite {suite_path})" if suite_path else "")
        ]
        lines += [f"  - {f.describe()}" for f in failures]
        lines.append("  Nothing of this batch was changed. Fix the rows or the suite, then rerun.")
        super().__init__("\n".join(lines))


def expectations_dir() -> Path:
    """The suites' directory of the environment's settings (``Settings.expectations_dir``), for a
    caller that was given no ``root``."""
    return Settings.from_env().expectations_dir


def suite_path(gate: str, dataset: str, root: Path | None = None) -> Path:
    return (root or expectations_dir()) / gate / f"{dataset}.json"


_suites: dict[tuple[str, int, int], Any] = {}
_suites_lock = threading.Lock()


def load_suite(gate: str, dataset: str, root: Path | None = None):
    """The GX 1.x ``ExpectationSuite`` stored in ``expectations/<gate>/<dataset>.json``.

    Building a suite costs far more than validating a batch with it, so each file is built once
    per process and rebuilt only when it changes on disk.
    """
    path = suite_path(gate, dataset, root)
    try:
        stat = path.stat()
    except FileNotFoundError:
        stat = None
    key = (str(path), stat.st_mtime_ns, stat.st_size) if stat else None
    with _suites_lock:
        if key is None:  # no suite file: its error names the file
            return _build_suite(path, gate, dataset)
        if key in _suites:
            return _suites[key]
        suite = _build_suite(path, gate, dataset)
        _suites[key] = suite
        return suite


def _build_suite(path: Path, gate: str, dataset: str):
    import great_expectations as gx

    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise TierflowError(
            f"{path}: no expectation suite for {dataset!r} (gate {gate!r}); add one "
            "(GX 1.x ExpectationSuite JSON) before gating this dataset"
        ) from None
    except json.JSONDecodeError as exc:
        raise TierflowError(f"{path}: not valid JSON ({exc})") from None
    try:
        return gx.ExpectationSuite(
            name=raw.get("name") or f"{gate}.{dataset}",
            expectations=raw.get("expectations", []),
            meta=raw.get("meta") or {},
        )
    except Exception as exc:  # noqa: BLE001 - GX raises several types for a malformed suite
        raise TierflowError(f"{path}: invalid expectation suite: {exc}") from None


def suite_columns(suite) -> set[str]:
    cols: set[str] = set()
    for exp in suite.expectations:
        kwargs = exp.configuration.kwargs
        for key in ("column", "column_A", "column_B"):
            if kwargs.get(key):
                cols.add(kwargs[key])
        for key in ("column_list", "columns"):
            if isinstance(kwargs.get(key), list):
                cols.update(kwargs[key])
    return cols


_gx_lock = threading.Lock()
_batch_definition = None


def _whole_dataframe_batch_definition():
    """One ephemeral GX context per process: building it costs more than validating a batch."""
    global _batch_definition
    if _batch_definition is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("tierflow")
        asset = source.add_dataframe_asset("batch")
        _batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    return _batch_definition


def to_gate_frame(data, columns: set[str] | None = None):
    """A pandas frame of only the columns the suite reads; decimals become floats (cheap to check),
    strings stay Arrow-backed."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data[[c for c in data.columns if columns is None or c in columns]]
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [c for c in data.column_names if columns is None or c in columns]
    arrays = {}
    for name in names:
        col = data.column(name)
        if pa.types.is_decimal(col.type):
            col = pc.cast(col, pa.float64())
        arrays[name] = col
    if not arrays:
        return pd.DataFrame(index=range(data.num_rows))
    # strings stay Arrow-backed: no Python object per value (a fraction of the memory and time)
    return pa.table(arrays).to_pandas(types_mapper=_arrow_backed_strings)


def _arrow_backed_strings(arrow_type):
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def validate(
    dataset: str, data, suite, *, key_column: str | None = None, suite_file: Path | None = None
) -> None:
    """Validate ``data`` (pandas DataFrame or Arrow table); raise QualityGateError on any failure."""
    wanted = suite_columns(suite)
    if key_column:
        wanted.add(key_column)
    frame = to_gate_frame(data, wanted)
    result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if key_column and key_column in frame.columns:
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": [key_column],
            "partial_unexpected_count": SAMPLE_SIZE,
        }
    with _gx_lock:
        batch = _whole_dataframe_batch_definition().get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=result_format)
    if result.success:
        return
    failures = []
    for res in result.results:
        if res.success:
            continue
        cfg = res.expectation_config
        details = res.result or {}
        keys = details.get("unexpected_index_list") or []
        keys = [_plain(k.get(key_column, k) if isinstance(k, dict) else k) for k in keys[:SAMPLE_SIZE]]
        exc_info = res.exception_info or {}
        kwargs = dict(cfg.kwargs)
        if exc_info.get("raised_exception"):
            kwargs["error"] = str(exc_info.get("exception_message"))[:200]
        failures.append(
            ExpectationFailure(
                type=cfg.type,
                column=cfg.kwargs.get("column"),
                kwargs=kwargs,
                unexpected_count=details.get("unexpected_count"),
                sample_values=[
                    _plain(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
                ],
                sample_keys=keys,
            )
        )
    raise QualityGateError(dataset, failures, suite_file)


def _plain(value: Any) -> Any:
    """numpy scalars print as np.uint64(2); show the plain value."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def warm_up(gate_name: str, dataset: str, root: Path | None = None) -> None:
    """Import GX, build its context and the dataset's suite ahead of the first batch."""
    load_suite(gate_name, dataset, root)
    with _gx_lock:
        _whole_dataframe_batch_definition()


def gate(
    gate_name: str, dataset: str, data, *, key_column: str | None = None, root: Path | None = None
) -> None:
    """Load ``<root>/<gate_name>/<dataset>.json`` (``root``: ``Settings.expectations_dir``) and
    validate ``data`` against it."""
    suite = load_suite(gate_name, dataset, root)
    validate(dataset, data, suite, key_column=key_column, suite_file=suite_path(gate_name, dataset, root))
