"""Backtest runs: create (pending, queued after commit), execute (engine), store results in one transaction.

Flow: API or admin -> ``backtest_create(...)`` saves a pending run and, on commit, queues it through
:mod:`core.lifecycle` (run kind ``backtest``) -> the task claims the run (a second task for it does nothing)
-> :func:`backtest_run` loads the frames, runs the pure engine and stores trades, metric snapshots and the
succeeded status in one transaction. A failure leaves the run ``failed`` with its error and no trades; a
retried run replaces, never duplicates, its trades.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, models, transaction

from backtests.data import market_data_load
from backtests.engine import CostModel, EngineConfig, RiskLimits
from backtests.evaluation import evaluate_window
from backtests.models import (
    ENGINE_DEFAULTS,
    BacktestConfig,
    BacktestMetric,
    BacktestTrade,
    default_cost_model,
    default_risk_limits,
)
from backtests.provenance import candles_hash, code_version
from core import lifecycle
from marketdata.loading import db_datetime_params, nullable_params, psycopg_cursor
from marketdata.timeframes import timeframe_delta, timeframe_seconds_str
from strategies.registry import build_strategy, get_strategy, validated_parameters

logger = logging.getLogger(__name__)

TRADE_FIELDS = ["symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "quantity", "fees",
                "slippage_cost", "carry", "pnl", "return_pct", "exit_reason", "is_partial"]


COST_FIELDS: tuple[str, ...] = ("initial_capital", "fee_rate", "slippage_rate", "latency_ms")


def engine_config(costs: Mapping[str, Any], timeframe: str) -> EngineConfig:
    """The engine configuration for ``costs`` (any of :data:`COST_FIELDS`, ``risk_limits`` and ``cost_model``; missing or
    ``None`` values take the engine's defaults) on bars of ``timeframe``."""
    given = {name: type(getattr(ENGINE_DEFAULTS, name))(costs[name]) for name in COST_FIELDS
             if costs.get(name) is not None}  # JSON numbers -> the field's type (float, or int for latency)
    limits = {**default_risk_limits(), **(costs.get("risk_limits") or {})}
    model = {**default_cost_model(), **(costs.get("cost_model") or {})}
    return replace(ENGINE_DEFAULTS, **given, risk=RiskLimits.from_dict(limits), costs=CostModel.from_dict(model),
                   bar_length=timeframe_seconds_str(timeframe))


def engine_config_for(config: BacktestConfig) -> EngineConfig:
    costs = {name: getattr(config, name) for name in COST_FIELDS}
    return engine_config({**costs, "risk_limits": config.risk_limits, "cost_model": config.cost_model},
                         config.timeframe)


def backtest_create(
    *,
    strategy: str,
    start: datetime,
    end: datetime,
    symbols: list[str] | None = None,
    timeframe: str | None = None,
    parameters: dict | None = None,
    initial_capital: float = ENGINE_DEFAULTS.initial_capital,
    fee_rate: float = ENGINE_DEFAULTS.fee_rate,
    slippage_rate: float = ENGINE_DEFAULTS.slippage_rate,
    latency_ms: int = ENGINE_DEFAULTS.latency_ms,
    risk_limits: dict | None = None,
    cost_model: dict | None = None,
    seed: int = 42,
    name: str = "",
    purpose: str = "backtest",
    user: Any = None,
    queue: bool = True,
) -> BacktestConfig:
    """Validate and save a pending run; queue its execution once the transaction commits."""
    strategy_class = get_strategy(strategy)
    limits = {**default_risk_limits(), **(risk_limits or {})}
    model = {**default_cost_model(), **(cost_model or {})}
    costs = {"initial_capital": initial_capital, "fee_rate": fee_rate, "slippage_rate": slippage_rate,
             "latency_ms": latency_ms, "risk_limits": limits, "cost_model": model}
    engine = engine_config(costs, timeframe or strategy_class.timeframe)  # ValueError on a bad cost or limit
    config = BacktestConfig.objects.create(
        name=name, strategy=strategy, symbols=list(symbols or strategy_class.universe),
        timeframe=timeframe or strategy_class.timeframe, start=start, end=end,
        parameters=validated_parameters(strategy_class, parameters), initial_capital=engine.initial_capital,
        fee_rate=engine.fee_rate, slippage_rate=engine.slippage_rate, latency_ms=engine.latency_ms,
        risk_limits=limits, cost_model=engine.costs.to_dict(), seed=seed, purpose=purpose,
        created_by=user,
    )
    if queue:
        lifecycle.enqueue(config)
    return config


def backtest_execute(config_id: int) -> Any:
    """Execute a pending run here and now (what the queued task does): claimed once, however often called."""
    return lifecycle.execute("backtest", config_id)


@dataclass
class RunOutcome:
    """The engine's result for a stored config, plus the performance summary and provenance."""

    result: Any
    performance: dict
    data_hash: str
    notes: list[str]
    quality_score: float | None = None
    coverage: dict | None = None


def backtest_compute(config: BacktestConfig) -> RunOutcome:
    """Load data, run the engine and summarise, without writing anything (pure apart from reads)."""
    strategy = build_strategy(config.strategy, config.parameters)
    loaded = market_data_load(strategy=strategy, symbols=list(config.symbols), timeframe=config.timeframe,
                              start=config.start, end=config.end)
    if not loaded.market.candles:
        raise ValueError(f"no {config.timeframe} candles for {', '.join(config.symbols)} between "
                         f"{config.start:%Y-%m-%d} and {config.end:%Y-%m-%d}: ingest or load data first")
    window = evaluate_window(strategy, loaded.market, engine_config_for(config), pd.Timestamp(config.start),
                             pd.Timestamp(config.end), timeframe_delta(config.timeframe))
    if window.result is None:
        raise ValueError(f"no {config.timeframe} candles for {', '.join(config.symbols)} between "
                         f"{config.start:%Y-%m-%d} and {config.end:%Y-%m-%d}")
    return RunOutcome(result=window.result, performance=window.performance,
                      data_hash=candles_hash(loaded.market.candles), notes=list(loaded.market.notes),
                      quality_score=loaded.quality_score, coverage=window.coverage)


def backtest_run(config: BacktestConfig, attempt: int) -> dict:
    """The ``backtest`` run kind: compute, then store the results under the task's claim."""
    backtest_store(config, backtest_compute(config), attempt)
    return BacktestConfig.objects.values_list("summary", flat=True).get(pk=config.pk)


def register_run_kinds() -> None:
    lifecycle.register("backtest", BacktestConfig, backtest_run)


#: A run of at most this many bars (from its start) stores a metric snapshot of every bar; a longer one stores
#: a bounded set (:func:`snapshot_positions`). The run's ``summary["snapshots"]`` says which was kept.
FULL_RESOLUTION_BARS = 10_000
#: Rows per ``executemany`` call or ``COPY`` chunk: bounds the memory of the prebuilt rows.
WRITE_CHUNK_ROWS = 50_000
#: Rows per ``INSERT ... VALUES (...), (...)`` statement of the ``executemany`` path: SQLite steps one
#: statement per parameter set, so 100 rows a statement insert about 2-3x faster than one (within the
#: backend's bound-parameter limit).
ROWS_PER_STATEMENT = 100
METRIC_FIELDS = ["timestamp", "equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                 "circuit_breaker"]
BOUNDED_RESOLUTION = ("the last bar of each UTC day, every bar with a fill (entries, exits, partial exits, "
                      "scale-ins), the first and last bars, and the peak and trough of the deepest drawdown")
_DAY_NS = 86_400 * 10**9
_PG_EPOCH_US = 946_684_800 * 10**6  # 2000-01-01 UTC, PostgreSQL's timestamp epoch, in microseconds


def _utc_ns(values: Any) -> np.ndarray:
    """Timestamps (a column or an index) as int64 UTC nanoseconds."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def _trade_rows(config: BacktestConfig, trades: pd.DataFrame) -> dict[str, np.ndarray]:
    """The trade legs as columns in :data:`TRADE_FIELDS` order (times as int64 UTC ns, ``return_pct`` NaN
    where unknown, stored as NULL), in the engine's order (which the ids follow)."""
    columns: dict[str, np.ndarray] = {}
    for name in TRADE_FIELDS:
        values = trades[name]
        if name in ("entry_time", "exit_time"):
            columns[name] = _utc_ns(values)
        elif name in ("symbol", "side", "exit_reason"):
            columns[name] = values.astype(str).to_numpy(dtype=object)
        elif name == "is_partial":
            columns[name] = values.to_numpy(dtype=bool)
        else:
            columns[name] = pd.to_numeric(values).to_numpy(dtype=np.float64)
    return columns


def snapshot_positions(times_ns: np.ndarray, equity: np.ndarray, drawdown: np.ndarray, fill_ns: np.ndarray,
                       full_resolution_bars: int) -> np.ndarray | None:
    """Which bars of a run (from its start) get a metric snapshot: ``None`` for every bar (runs of at most
    ``full_resolution_bars`` bars), otherwise the sorted positions of :data:`BOUNDED_RESOLUTION`.

    The last bar of each UTC day keeps the daily returns (and so the monthly returns and rolling Sharpe the
    charts draw) exactly those of the full curve; the trough of the deepest drawdown keeps the stored
    drawdown's maximum the run's, and its running peak lets a reader recompute that drawdown from equity.
    """
    n = len(times_ns)
    if n <= full_resolution_bars:
        return None
    midnights = np.arange(times_ns[0] // _DAY_NS + 1, times_ns[-1] // _DAY_NS + 1, dtype=np.int64) * _DAY_NS
    day_ends = np.searchsorted(times_ns, midnights) - 1  # the last bar before each UTC midnight
    at = np.searchsorted(times_ns, fill_ns)
    inside = at < n
    at = at[inside]
    fills = at[times_ns[at] == fill_ns[inside]]  # fills on a bar of the run
    trough = _first_max(drawdown)
    peak = _first_max(equity[: trough + 1])
    return np.unique(np.concatenate([np.array([0, n - 1, trough, peak], dtype=np.int64), day_ends, fills]))


def _first_max(values: np.ndarray) -> int:
    """Position of the first largest value, NaN ignored (0 if all are NaN)."""
    missing = np.isnan(values)
    if not missing.any():
        return int(np.argmax(values))
    return 0 if missing.all() else int(np.argmax(np.where(missing, -np.inf, values)))


def _fill_times(result: Any) -> np.ndarray:
    """Every bar with a fill: trade legs' entries and exits and the engine's orders (scale-ins included)."""
    parts = [_utc_ns(result.trades[name]) for name in ("entry_time", "exit_time") if name in result.trades]
    orders = getattr(result, "orders", None)
    if orders is not None and "time" in orders.columns:
        parts.append(_utc_ns(orders["time"]))
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


def _metric_rows(config: BacktestConfig, equity: pd.DataFrame, fill_ns: np.ndarray | None = None, *,
                 full_resolution_bars: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The snapshots to store, as columns in :data:`METRIC_FIELDS` order (``timestamp`` as int64 UTC ns),
    and what was kept (the run's ``summary["snapshots"]``). Bars before the run's start (warm-up) are not
    stored; ``drawdown`` is clipped to [0, 1], ``exposure`` and ``portfolio_heat`` at 0, as before."""
    limit = FULL_RESOLUTION_BARS if full_resolution_bars is None else int(full_resolution_bars)
    times = _utc_ns(equity.index)
    first = int(np.searchsorted(times, pd.Timestamp(config.start).as_unit("ns").value))  # index is sorted
    times = times[first:]
    values = {name: equity[name].to_numpy()[first:] for name in METRIC_FIELDS[1:]}  # views, no copies
    kept = snapshot_positions(times, values["equity"], values["drawdown"],
                              np.empty(0, dtype=np.int64) if fill_ns is None else fill_ns, limit)

    def pick(array: np.ndarray) -> np.ndarray:
        return array if kept is None else array[kept]

    columns = {
        "timestamp": pick(times),
        "equity": pick(values["equity"]).astype(np.float64),
        "cash": pick(values["cash"]).astype(np.float64),
        "drawdown": np.clip(pick(values["drawdown"]).astype(np.float64), 0.0, 1.0),
        "exposure": np.maximum(pick(values["exposure"]).astype(np.float64), 0.0),
        "portfolio_heat": np.maximum(pick(values["portfolio_heat"]).astype(np.float64), 0.0),
        "open_positions": pick(values["open_positions"]).astype(np.int64),
        "circuit_breaker": pick(values["circuit_breaker"]).astype(bool),
    }
    info = {"stored": len(columns["timestamp"]), "bars": len(times), "full_resolution_bars": limit,
            "resolution": "every bar" if kept is None else BOUNDED_RESOLUTION}
    return columns, info


# --------------------------------------------------------------------------- fast row writes
_PG_KINDS = {"DateTimeField": "timestamptz", "FloatField": "float8", "IntegerField": "int4",
             "BooleanField": "bool", "CharField": "text"}
_PG_FIXED = {"timestamptz": ">i8", "float8": ">f8", "int4": ">i4", "int8": ">i8", "bool": "?"}
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


def insert_rows(model: type[models.Model], config_id: int, columns: dict[str, np.ndarray], *,
                method: str | None = None) -> int:
    """Append rows of ``model`` (``config_id`` plus ``columns``, in their order) on the current connection,
    inside the caller's transaction: binary ``COPY`` on PostgreSQL, ``executemany`` of prebuilt parameters
    (:data:`ROWS_PER_STATEMENT` rows a statement) elsewhere (``method`` forces one: ``"copy"`` or ``"executemany"``). Timestamps are int64 UTC ns; NaN in
    a nullable float field is NULL. Rows get their ids in the given order, as ``bulk_create`` gave them."""
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        return 0
    method = method or ("copy" if connection.vendor == "postgresql" else "executemany")
    fields = [model._meta.get_field(name) for name in columns]
    names = [model._meta.get_field("config").column, *(field.column for field in fields)]
    table, quote = model._meta.db_table, connection.ops.quote_name
    column_list = ", ".join(quote(name) for name in names)
    with connection.cursor() as cursor:
        if method == "copy":
            kinds = ["int8", *(_PG_KINDS[field.get_internal_type()] for field in fields)]
            with psycopg_cursor(cursor).copy(
                    f"COPY {quote(table)} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(_PG_COPY_HEADER)
                for start in range(0, n, WRITE_CHUNK_ROWS):
                    chunk = [np.full(min(WRITE_CHUNK_ROWS, n - start), config_id, dtype=np.int64)]
                    chunk += [values[start:start + WRITE_CHUNK_ROWS] for values in columns.values()]
                    nulls = [None, *(_null_mask(field, part) for field, part in zip(fields, chunk[1:], strict=True))]
                    copy.write(pg_binary_records(kinds, chunk, nulls))
                copy.write(b"\xff\xff")
            return n
        width = len(names)
        per = max(1, min(ROWS_PER_STATEMENT, (connection.features.max_query_params or 999) // width))

        def insert(rows: int) -> str:
            values = ", ".join([f"({', '.join(['%s'] * width)})"] * rows)
            return f"INSERT INTO {quote(table)} ({column_list}) VALUES {values}"

        for start in range(0, n, WRITE_CHUNK_ROWS):
            params = [_db_params(field, values[start:start + WRITE_CHUNK_ROWS])
                      for field, values in zip(fields, columns.values(), strict=True)]
            rows = len(params[0])
            flat = list(itertools.chain.from_iterable(zip(itertools.repeat(config_id, rows), *params, strict=True)))
            whole = rows - rows % per  # rows in statements of ``per`` rows; the rest in one statement
            step = per * width
            if whole:
                cursor.executemany(insert(per), [flat[i:i + step] for i in range(0, whole * width, step)])
            if rows > whole:
                cursor.execute(insert(rows - whole), flat[whole * width:])
    return n


def _null_mask(field: models.Field, values: np.ndarray) -> np.ndarray | None:
    if field.null and values.dtype.kind == "f":
        mask = np.isnan(values)
        return mask if mask.any() else None
    return None


def _db_params(field: models.Field, values: np.ndarray) -> list:
    """One column as the Python values Django's backend would have bound for it."""
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return db_datetime_params(values.view("datetime64[ns]"))
    if kind == "FloatField":
        return nullable_params(values) if field.null else values.astype(np.float64).tolist()
    return values.tolist()  # ints, bools and strings as Python objects


def pg_binary_records(kinds: list[str], columns: list[np.ndarray], nulls: list[np.ndarray | None]) -> bytes:
    """The records (no header, no trailer) of PostgreSQL's binary ``COPY`` format for ``columns`` of types
    ``kinds`` (``int8 int4 float8 bool timestamptz`` from int64 UTC ns, and ``text`` from str objects), with
    NULL where ``nulls`` is set, built by numpy. Rows of fixed width are one structured array; text and NULLs
    make rows of varying width, assembled by byte offsets (text is written per distinct value: meant for
    columns of few distinct values such as symbols and reasons)."""
    n = len(columns[0])
    fixed: list[np.ndarray] = []
    for kind, values in zip(kinds, columns, strict=True):
        if kind == "timestamptz":
            fixed.append((np.asarray(values, dtype=np.int64) // 1000 - _PG_EPOCH_US).astype(">i8"))
        elif kind != "text":
            fixed.append(np.asarray(values).astype(_PG_FIXED[kind]))
        else:
            fixed.append(np.asarray(values, dtype=object))
    if "text" not in kinds and all(mask is None for mask in nulls):
        spec: list[tuple[str, Any]] = [("count", ">i2")]
        for j, values in enumerate(fixed):
            spec += [(f"len{j}", ">i4"), (f"v{j}", values.dtype)]
        records = np.empty(n, dtype=np.dtype(spec))
        records["count"] = len(kinds)
        for j, values in enumerate(fixed):
            records[f"len{j}"] = values.dtype.itemsize
            records[f"v{j}"] = values
        return records.tobytes()
    # Varying widths: per field, its byte length in each row (-1 for NULL: no data follows).
    texts: list[tuple[list[bytes], np.ndarray] | None] = []
    lengths = []
    for kind, values, mask in zip(kinds, fixed, nulls, strict=True):
        if kind == "text":
            vocabulary, inverse = np.unique(values.astype(str), return_inverse=True)
            encoded = [value.encode() for value in vocabulary]
            texts.append((encoded, inverse))
            size = np.array([len(value) for value in encoded], dtype=np.int64)[inverse]
        else:
            texts.append(None)
            size = np.full(n, values.dtype.itemsize, dtype=np.int64)
        lengths.append(size if mask is None else np.where(mask, -1, size))
    row_bytes = np.full(n, 2, dtype=np.int64)  # the field count, then per field its length and its data
    for size in lengths:
        row_bytes += 4 + np.maximum(size, 0)
    offsets = np.concatenate([[0], np.cumsum(row_bytes)[:-1]]).astype(np.int64)
    out = np.zeros(int(row_bytes.sum()), dtype=np.uint8)
    _scatter(out, offsets, np.full(n, len(kinds), dtype=">i2"))
    at = offsets + 2
    for values, size, text in zip(fixed, lengths, texts, strict=True):
        _scatter(out, at, size.astype(">i4"))
        at = at + 4
        present = size >= 0
        if text is None:
            _scatter(out, at[present], values[present])
        else:
            encoded, inverse = text
            for code, value in enumerate(encoded):
                rows = present & (inverse == code)
                if value and rows.any():
                    out[at[rows][:, None] + np.arange(len(value))] = np.frombuffer(value, dtype=np.uint8)
        at = at + np.maximum(size, 0)
    return out.tobytes()


def _scatter(out: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> None:
    """Write each element of fixed-width ``values`` (its raw bytes) at ``out[offset:]``."""
    width = values.dtype.itemsize
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), width)
    out[offsets[:, None] + np.arange(width)] = raw


ResultObserver = Callable[[BacktestConfig, "RunOutcome"], "dict | None"]

#: Called inside the transaction that stores a run's results; what one returns is added to the run's
#: summary. Higher layers register here without this layer knowing them (analytics counts the runs that
#: touch a locked holdout: ``analytics.holdout.count_plain_backtest``).
RESULT_OBSERVERS: list[ResultObserver] = []


def observe_results(observer: ResultObserver) -> None:
    if observer not in RESULT_OBSERVERS:
        RESULT_OBSERVERS.append(observer)


def backtest_store(config: BacktestConfig, outcome: RunOutcome, attempt: int, *,
                   full_resolution_bars: int | None = None) -> None:
    """Replace the run's trades and metric snapshots and set its results, in one transaction, while
    ``attempt`` still holds the run (:class:`core.lifecycle.LostClaim` rolls everything back otherwise).

    The performance figures were computed on the full-resolution equity (``evaluate_window``); a run longer
    than ``full_resolution_bars`` (default :data:`FULL_RESOLUTION_BARS`) stores the snapshots of
    :func:`snapshot_positions` only, and ``summary["snapshots"]`` records what was kept."""
    perf = outcome.performance
    result = outcome.result
    trades = _trade_rows(config, result.trades)
    metrics, snapshots = _metric_rows(config, result.equity, _fill_times(result),
                                      full_resolution_bars=full_resolution_bars)
    summary = {**result.summary, "performance": perf,
               "notes": [*outcome.notes, *result.summary.get("notes", [])],
               "data_coverage": outcome.coverage, "snapshots": snapshots}
    with transaction.atomic():
        for observer in RESULT_OBSERVERS:
            summary.update(observer(config, outcome) or {})
        BacktestTrade.objects.filter(config=config).delete()
        BacktestMetric.objects.filter(config=config).delete()
        insert_rows(BacktestTrade, config.pk, trades)
        insert_rows(BacktestMetric, config.pk, metrics)
        finish_with_results(config, attempt, summary, outcome)


def finish_with_results(config: BacktestConfig, attempt: int, summary: dict, outcome: RunOutcome) -> None:
    """Mark the run succeeded with its summary and headline figures (inside the caller's transaction)."""
    perf = outcome.performance
    lifecycle.finish(
        config, attempt, summary=summary,
        total_return=perf.get("total_return"), cagr=perf.get("cagr"), sharpe_ratio=perf.get("sharpe"),
        sortino_ratio=perf.get("sortino"), calmar_ratio=perf.get("calmar"),
        max_drawdown=perf.get("max_drawdown"), win_rate=perf.get("win_rate"),
        profit_factor=perf.get("profit_factor"), num_trades=perf.get("n_trades"),
        final_equity=perf.get("final_equity"), data_hash=outcome.data_hash, code_version=code_version(),
        annualization=perf.get("annualization", ""), data_quality_score=outcome.quality_score,
    )
