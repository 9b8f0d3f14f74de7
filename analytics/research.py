"""The research pipeline (the main job): data, indicators, five strategies through walk-forward, the
locked holdout, Monte Carlo, stress tests, correlation, scorecard and the selection for paper trading,
written up as an HTML report and a Markdown summary.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from analytics import edge, holdout, services
from analytics.capacity import DEFAULT_CAPITALS
from analytics.capacity_services import capacity_test
from analytics.models import StressEvent, WalkForwardPeriod, WalkForwardRun
from analytics.montecarlo import monte_carlo_report, simulate_paths
from analytics.portfolio import correlation_to_dict, scorecard, select_for_paper_trading, strategy_correlation
from analytics.report import points_series, render_html, render_markdown
from analytics.stress_events import DEFAULT_OUTAGE_HOURS, STRESS_SCENARIOS
from analytics.stress_services import portfolio_stress, stress_test
from analytics.walkforward import WALKFORWARD_DEFAULTS
from backtests.data import BASE_TIMEFRAME
from backtests.metrics import daily_returns
from backtests.models import BacktestConfig, ResearchJob, RunStatus
from backtests.selectors import config_trade_returns, equity_frame
from backtests.warm import ensure_compiled
from core import lifecycle
from core.jobs import register_job
from core.jsonsafe import json_safe
from core.parallel import (
    can_fork_workers,
    database_reachable_from_workers,
    default_workers,
    own_database_connections,
)
from marketdata.models import Candle, OnchainMetric, SentimentIndex
from marketdata.selectors import fundamentals_inventory
from marketdata.timeframes import timeframe_delta
from strategies.registry import RESEARCH_STRATEGIES, get_strategy

logger = logging.getLogger(__name__)


@dataclass
class ResearchOptions:
    strategies: list[str] = field(default_factory=lambda: [cls.name for cls in RESEARCH_STRATEGIES])
    start: datetime | None = None
    end: datetime | None = None
    train_months: int = WALKFORWARD_DEFAULTS.train_months
    test_months: int = WALKFORWARD_DEFAULTS.test_months
    holdout_fraction: float = WALKFORWARD_DEFAULTS.holdout_fraction
    search: str = WALKFORWARD_DEFAULTS.search
    max_trials: int = 16  # the research run tries fewer sets per optimisation than a lone walk-forward
    mc_iterations: int = 1000
    permutations: int = 100  # bar permutations of the signal test on each holdout (0 skips it)
    seed: int = WALKFORWARD_DEFAULTS.seed
    cache_indicators: bool = False  # no strategy reads the indicator cache: writing it is opt-in
    report_dir: str | None = None
    #: Fan the walk-forwards out over the django-q2 cluster (one task per strategy x period) instead of
    #: computing them here; the rest (Monte Carlo, stress, portfolio, report) stays here.
    cluster: bool = False
    #: Hours without fills in the exchange-outage stress scenario (``analytics.stress_events``).
    stress_outage_hours: float = DEFAULT_OUTAGE_HOURS


Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def research_run(options: ResearchOptions | None = None, *, progress: Progress = _noop,
                 job: ResearchJob | None = None) -> dict:
    """Run the whole pipeline; returns the report data (JSON-safe) with the paths of the written reports.

    The report folder is checked (created and written to) before any work, so a bad ``report_dir`` costs
    nothing and counts no holdout. With ``job`` (the research job running this), each strategy's
    walk-forward belongs to the job: a retried job reuses the walk-forwards an earlier attempt finished
    (their holdouts are not evaluated again) and resumes the one it was killed in.
    """
    options = options or ResearchOptions()
    holdout.check_fraction(options.holdout_fraction)
    for name in options.strategies:  # refused before any work, naming the lock
        holdout.refuse_fraction_change(name, options.holdout_fraction)
    report_folder = prepare_report_folder(options)
    started = time.perf_counter()
    report: dict[str, Any] = {"generated_at": timezone.now().isoformat(), "options": json_safe(asdict(options)),
                              "timings": {}}
    step = _timer(report, progress)
    with strategy_processes(options, progress) as processes:  # they start (and warm up) while the data loads
        # with processes each strategy starts once its own data is in, while the rest loads (the step names say so)
        with step("data" if processes is None else "data (with the first strategies)"):
            ready = _noop if processes is None else partial(processes.submit, options=options, job=job)
            report["data"] = ensure_data(options, ready)
            report["fundamentals"] = fundamentals_inventory()
        if options.cache_indicators:
            with step("indicators"):
                report["indicators"] = cache_indicators(options)
        queued: dict[str, WalkForwardRun | None] = {}
        if options.cluster:
            with step("walk-forwards queued on the cluster"):
                queued = {name: queue_walkforward(name, options, job) for name in options.strategies}
        if processes is None:
            with step("data quality"):
                report.update(data_quality_sections(options))
        with step("strategies" if processes is None else "strategies after the data"):
            if processes is None:
                strategies = research_strategies_here(options, progress, job, queued, report["timings"])
            else:
                with step("data quality (beside the strategies)"):
                    report.update(data_quality_sections(options))
                ensure_compiled()  # while waiting: the portfolio steps after it need the engine here too
                strategies = processes.results(options, job, report["timings"])
    report["strategies"] = strategies
    with step("portfolio"):
        report["portfolio"] = portfolio_section(strategies)
    with step("portfolio stress"):
        report["portfolio_stress"] = portfolio_stress_section(strategies, options)
    for name, result in strategies.items():  # the locks as they stand after every evaluation of this run
        if result.get("status") == RunStatus.SUCCEEDED:
            result["holdout_lock"] = lock_summary(name)
    with step("correlation and scorecard"):
        report.update(judge(strategies, report["portfolio"]))
    report["timings"]["total"] = round(time.perf_counter() - started, 2)
    report = json_safe(report)
    report["paths"] = write_reports(report, report_folder)
    return report


def prepare_report_folder(options: ResearchOptions) -> Path:
    """The folder the reports will be written to, created and proven writable now (``ValueError`` if not)."""
    base = Path(options.report_dir) if options.report_dir else Path(settings.REPORTS_DIR)
    folder = base / f"research-{timezone.now():%Y%m%d-%H%M%S-%f}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write reports to {base}: {exc.strerror or exc}") from exc
    return folder


def _timer(report: dict, progress: Progress):
    """``with step(name):`` reports progress and records the step's seconds in ``report["timings"]``."""

    @contextmanager
    def step(name: str):
        progress(f"{name} ...")
        started = time.perf_counter()
        yield
        elapsed = round(time.perf_counter() - started, 2)
        report["timings"][name] = elapsed
        progress(f"{name}: done in {elapsed:.1f} s")

    return step


# --------------------------------------------------------------------------- data
def strategy_timeframes(options: ResearchOptions) -> dict[str, list[str]]:
    """timeframe -> symbols that the chosen strategies (and their regime filters) need."""
    needed: dict[str, set[str]] = {}
    for name in options.strategies:
        cls = get_strategy(name)
        needed.setdefault(cls.timeframe, set()).update(_market_symbols(cls))
    return {tf: sorted(symbols) for tf, symbols in needed.items()}


def ensure_data(options: ResearchOptions, ready: Callable[[str], None] = _noop) -> dict:
    """Load the bundled sample when the database has no candles (and the bundled fundamentals and sentiment
    when it has neither); derive the strategies' timeframes.

    The load is staged: the fundamentals, then the candle files of the symbols each strategy reads
    (:func:`_symbols_read`) in :func:`submission_order`, each strategy's timeframe derived for its universe and
    regime symbols as soon as their files are in, then the files no strategy reads. ``ready(name)`` is called
    once everything strategy ``name`` reads is stored (its symbols' candles at every timeframe, the
    fundamentals), so that it can start while the rest loads.
    """
    from marketdata.sample import sample_files, sample_load
    from marketdata.sample_fundamentals import fundamentals_load

    result: dict[str, Any] = {"loaded_sample": False, "loaded_fundamentals": False}
    if not OnchainMetric.objects.exists() and not SentimentIndex.objects.exists():
        result.update(loaded_fundamentals=True, fundamentals_created=fundamentals_load()["created"])
    stages = [(name, _symbols_read(name)) for name in submission_order(options.strategies)]
    resampled: dict[tuple[str, str], dict] = {}

    def stage_done(name: str) -> None:
        _resample_for(name, resampled)
        ready(name)

    if Candle.objects.filter(timeframe=BASE_TIMEFRAME).exists():
        for name, _ in stages:
            stage_done(name)
    else:
        files = sample_files()
        samples, ends = _staged_samples(files, _quickest_first(stages, files))
        loaded_files = 0

        def complete_stages() -> None:
            while ends and ends[0][1] <= loaded_files:
                stage_done(ends.pop(0)[0])

        def file_loaded(_: dict) -> None:
            nonlocal loaded_files
            loaded_files += 1
            complete_stages()

        complete_stages()  # strategies none of whose symbols has a file
        loaded = sample_load(samples=samples, progress=file_loaded)
        result.update(loaded_sample=True, inserted=loaded["inserted"], files=len(loaded["files"]))
    result["resampled"] = [resampled[(timeframe, symbol)] for timeframe, symbols in strategy_timeframes(options).items()
                           for symbol in symbols if (timeframe, symbol) in resampled]
    result["candles"] = Candle.objects.count()
    result["onchain_rows"] = OnchainMetric.objects.count()
    result["sentiment_rows"] = SentimentIndex.objects.count()
    return result


def _market_symbols(cls: type) -> set[str]:
    """The symbols a strategy trades or filters on (universe and regime): those whose candles it needs at its
    timeframe."""
    return {*cls.universe, *cls.regime_symbols}


def _symbols_read(name: str) -> set[str]:
    """The symbols whose candles strategy ``name``'s research reads: its market symbols (its universe holds its
    sector mates, the stress proxies' references) and the stress scenarios' quote coins."""
    quote_coins = {scenario["quote_symbol"] for scenario in STRESS_SCENARIOS if "quote_symbol" in scenario}
    return {*_market_symbols(get_strategy(name)), *quote_coins}


def _staged_samples(samples: list, stages: list[tuple[str, set[str]]]) -> tuple[list, list[tuple[str, int]]]:
    """``samples`` reordered: each stage's symbols' files after the previous stages' (their own order kept), then
    the rest; with, for each stage, how many of the reordered files must be loaded before it is complete."""
    ordered: list = []
    ends = []
    for name, symbols in stages:
        ordered += [sample for sample in samples if sample.symbol in symbols and sample not in ordered]
        ends.append((name, len(ordered)))
    ordered += [sample for sample in samples if sample not in ordered]
    return ordered, ends


def _quickest_first(stages: list[tuple[str, set[str]]], samples: list) -> list[tuple[str, set[str]]]:
    """``stages`` with the one whose files are the fewest bytes moved to the front, the others in their order:
    the first strategy starts sooner. On the bundled data that is stable_lp_yield (3 small files, no timeframe to
    derive) instead of defi_derivatives_momentum (5 tokens, and the 4h candles of 7 symbols to derive): the run
    took 0.6 and 1.3 s less in two pairs."""
    if not stages:
        return stages
    first = min(stages, key=lambda stage: sum(s.path.stat().st_size for s in samples if s.symbol in stage[1]))
    return [first, *(stage for stage in stages if stage is not first)]


def _resample_for(name: str, done: dict[tuple[str, str], dict]) -> None:
    """Derive strategy ``name``'s timeframe from the base candles of its symbols (those not derived yet)."""
    from marketdata.services import candles_resample

    cls = get_strategy(name)
    if cls.timeframe == BASE_TIMEFRAME:
        return
    timeframe = cls.timeframe
    for symbol in sorted(_market_symbols(cls)):
        if (timeframe, symbol) not in done and Candle.objects.filter(symbol=symbol,
                                                                     timeframe=BASE_TIMEFRAME).exists():
            done[(timeframe, symbol)] = candles_resample(symbol=symbol, source_timeframe=BASE_TIMEFRAME,
                                                         target_timeframe=timeframe)


def data_quality_sections(options: ResearchOptions) -> dict:
    """The report's ``data_quality`` and ``reconciliation`` sections (they read candles only)."""
    return {"data_quality": data_quality(options), "reconciliation": reconciliation()}


def data_quality(options: ResearchOptions) -> dict:
    from marketdata.quality_services import data_quality_report

    reports = {}
    for timeframe, symbols in strategy_timeframes(options).items():
        reports[timeframe] = data_quality_report(symbols=symbols, timeframe=timeframe)
    return reports


def reconciliation() -> dict:
    """Binance against CoinGecko for every symbol that has candles from both."""
    from marketdata.services import COINGECKO_SOURCES, sources_reconcile

    symbols = sorted(set(Candle.objects.filter(source__in=COINGECKO_SOURCES).values_list("symbol", flat=True)))
    return sources_reconcile(symbols=symbols)


def cache_indicators(options: ResearchOptions) -> dict:
    """Compute and cache each strategy's declared indicators for its symbols (only what is missing)."""
    from marketdata.indicator_cache import indicators_sync

    inserted: dict[str, int] = {}
    for name in options.strategies:
        strategy = get_strategy(name)()
        requests = strategy.required_indicators()
        for symbol in strategy.universe:
            if not Candle.objects.filter(symbol=symbol, timeframe=strategy.timeframe).exists():
                continue
            result = indicators_sync(symbol=symbol, timeframe=strategy.timeframe, indicators=requests)
            inserted[f"{name}:{symbol}"] = result.inserted_total
    return {"inserted": inserted, "total_inserted": sum(inserted.values())}


def data_span(name: str) -> tuple[datetime, datetime] | None:
    cls = get_strategy(name)
    bounds = [Candle.objects.filter(symbol=s, timeframe=cls.timeframe).aggregate(first=Min("open_time"),
                                                                                 last=Max("open_time"))
              for s in cls.universe]
    bounds = [b for b in bounds if b["first"] is not None]
    if not bounds:
        return None
    return min(b["first"] for b in bounds), max(b["last"] for b in bounds) + timeframe_delta(cls.timeframe)


# --------------------------------------------------------------------------- per strategy
class StrategyProcesses:
    """The strategies side by side in forked processes, one per core (``RESEARCH_WORKERS``), each with its own
    database connection.

    The processes are forked when the run starts and load what every strategy needs (the compiled engine,
    ``arch``: about 2 s of CPU each) while the parent loads the data: on 2 cores that start-up competes with the
    load, so what it saves is the CPU the load leaves idle. Inside each, the trials use only the cores left
    idle (``core.parallel``): with 2 cores and 2 strategy processes, none. Nesting pools there (4 processes on
    2 cores, a new pool for each of about 70 maps) made the step 64% slower (34.9 s against 21.3 s on the
    bundled data). Each result is what the same strategy gives alone (the tests compare them).
    """

    def __init__(self, options: ResearchOptions, progress: Progress) -> None:
        cores = default_workers()
        workers = min(cores, len(options.strategies))
        context = multiprocessing.get_context("fork")
        self._messages = context.SimpleQueue()
        self._futures: dict[str, Future] = {}
        gc.freeze()  # the children's garbage collector leaves the inherited objects (and their pages) alone
        try:
            self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_strategy_process,
                                             initargs=(self._messages, max(1, cores // workers)))
            self._pool.submit(_noop, "")  # forks every worker now (the executor forks on its first task)
        finally:
            gc.unfreeze()
        self._relay = threading.Thread(target=_relay_progress, args=(self._messages, progress), daemon=True)
        self._relay.start()  # after the fork: no child inherits the relay's hold on the queue

    @staticmethod
    def wanted(options: ResearchOptions) -> bool:
        """Not on the cluster (the walk-forwards are queued there), with one core or one strategy, where
        nothing can be forked, or where a forked process would not see the database."""
        return (not options.cluster and min(default_workers(), len(options.strategies)) > 1
                and can_fork_workers() and database_reachable_from_workers())

    def submit(self, name: str, options: ResearchOptions, job: ResearchJob | None) -> None:
        """Start strategy ``name``'s research in the first free process (queued while none is free); once."""
        if name not in self._futures:
            self._futures[name] = self._pool.submit(_timed_research_strategy, name, options, job)

    def results(self, options: ResearchOptions, job: ResearchJob | None, timings: dict) -> dict[str, dict]:
        """Each strategy's :func:`research_strategy` result in the options' order, those not submitted yet
        submitted now, the heaviest first so that no long one starts last (:func:`submission_order`);
        ``timings["strategy <name>"]`` holds each one's seconds."""
        for name in submission_order(options.strategies):
            self.submit(name, options, job)
        return _results_and_timings({name: self._futures[name].result() for name in options.strategies}, timings)

    def close(self) -> None:
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._messages.put(None)
            self._relay.join(timeout=5)


def submission_order(names: list[str]) -> list[str]:
    """``names`` by expected cost, highest first (longest-processing-time scheduling; ties keep their order).

    A strategy's research costs about its number of symbols (each evaluation, permutation and stress window
    runs every symbol); measured on the bundled data: 5 symbols 10.2 s, 3 symbols 5.3-7.4 s, 2 symbols 4.2 s.
    In the registry's order the 2-symbol strategy came fourth and the step ended 1.1 s after the other process
    had finished (18.7 s against 17.6 s, by those times).
    """
    return sorted(names, key=lambda name: -len(get_strategy(name).universe))


@contextmanager
def strategy_processes(options: ResearchOptions, progress: Progress) -> Iterator[StrategyProcesses | None]:
    """:class:`StrategyProcesses` for the run when it may have them (:meth:`StrategyProcesses.wanted`),
    else None (the strategies run here, one after another: :func:`research_strategies_here`)."""
    if not StrategyProcesses.wanted(options):
        yield None
        return
    processes = StrategyProcesses(options, progress)
    try:
        yield processes
    finally:
        processes.close()


def research_strategies_here(options: ResearchOptions, progress: Progress, job: ResearchJob | None,
                             queued: dict[str, WalkForwardRun | None], timings: dict) -> dict[str, dict]:
    """Every strategy's research in this process, in the options' order (timings as
    :meth:`StrategyProcesses.results`)."""
    return _results_and_timings({name: _timed_research_strategy(name, options, job, progress, queued.get(name))
                                 for name in options.strategies}, timings)


def _results_and_timings(done: dict[str, tuple[dict, float]], timings: dict) -> dict[str, dict]:
    """The results of :func:`_timed_research_strategy` by name; each one's seconds go to ``timings["strategy
    <name>"]``."""
    timings.update({f"strategy {name}": seconds for name, (_, seconds) in done.items()})
    return {name: result for name, (result, _) in done.items()}


_child_progress: Progress = _noop


def _strategy_process(messages, inner_workers: int) -> None:
    """Initialiser of a strategy process: own database connections, progress sent to the parent,
    ``inner_workers`` cores for its trials (``core.parallel`` reads ``RESEARCH_WORKERS``), and the compiled
    engine and ``arch`` (the selection tests) loaded before the first strategy arrives."""
    global _child_progress
    own_database_connections()
    os.environ["RESEARCH_WORKERS"] = str(inner_workers)
    _child_progress = messages.put
    ensure_compiled()
    edge.load_bootstrap_library()


def _timed_research_strategy(name: str, options: ResearchOptions, job: ResearchJob | None,
                             progress: Progress | None = None,
                             queued: WalkForwardRun | None = None) -> tuple[dict, float]:
    """(:func:`research_strategy`'s result, its seconds); progress goes to the parent in a strategy process."""
    started = time.perf_counter()
    result = research_strategy(name, options, progress or _child_progress, job=job, queued=queued)
    return result, round(time.perf_counter() - started, 2)


def _relay_progress(messages, progress: Progress) -> None:
    while (message := messages.get()) is not None:
        progress(message)


def research_range(name: str, options: ResearchOptions) -> tuple[datetime, datetime] | None:
    """The strategy's data span cut to the options' start and end (None: no candles)."""
    span = data_span(name)
    if span is None:
        return None
    start = max(pd.Timestamp(options.start), span[0]) if options.start else span[0]
    end = min(pd.Timestamp(options.end), span[1]) if options.end else span[1]
    return start, end


def _walkforward_of(name: str, options: ResearchOptions, job: ResearchJob | None,
                    span: tuple[datetime, datetime]) -> tuple[WalkForwardRun, bool]:
    """(the strategy's walk-forward, whether it still has to run): new, or (for a retried job) the one it already
    has, reopened if its attempt died (stored periods are kept)."""
    cls = get_strategy(name)
    run = WalkForwardRun.objects.filter(research_job=job, strategy=name).first() if job else None
    if run is None:
        run = services.walkforward_create(
            strategy=name, symbols=list(cls.universe), timeframe=cls.timeframe, start=span[0], end=span[1],
            train_months=options.train_months, test_months=options.test_months,
            holdout_fraction=options.holdout_fraction, search=options.search, max_trials=options.max_trials,
            seed=options.seed, queue=False, research_job=job, user=job.created_by if job else None,
            permutations=options.permutations, **({"fan_out": True} if options.cluster else {}))
        return run, True
    if run.status == RunStatus.SUCCEEDED:
        return run, False  # finished by an earlier attempt of the job: its holdout is not evaluated again
    lifecycle.reopen_child(run)
    return run, True


def research_walkforward(name: str, options: ResearchOptions, span: tuple[datetime, datetime],
                         job: ResearchJob | None, progress: Progress = _noop) -> WalkForwardRun:
    """The strategy's walk-forward, executed here."""
    run, pending = _walkforward_of(name, options, job, span)
    if pending:
        with services.reporting_progress(progress):
            services.walkforward_execute(run.pk)
        run.refresh_from_db()
    return run


def queue_walkforward(name: str, options: ResearchOptions, job: ResearchJob | None) -> WalkForwardRun | None:
    """The strategy's walk-forward, queued on the django-q2 cluster (its periods fan out as tasks there)."""
    span = research_range(name, options)
    if span is None:
        return None
    run, pending = _walkforward_of(name, options, job, span)
    if pending:
        lifecycle.enqueue(run, after_commit=False)
    return run


#: Seconds between two looks at a walk-forward running on the cluster, and after which an untouched one is
#: reported as waiting for a worker.
CLUSTER_POLL_SECONDS = 0.5
CLUSTER_IDLE_HINT_SECONDS = 30.0


def wait_for_cluster(run: WalkForwardRun, progress: Progress = _noop) -> WalkForwardRun:
    """Block until the cluster has finished (or failed) ``run``, reporting its stored periods as they come."""
    started, said = time.monotonic(), ""
    while True:
        run.refresh_from_db()
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        stored = WalkForwardPeriod.objects.filter(run=run).count()
        message = f"  {run.strategy}: on the cluster, {stored} walk-forward periods stored"
        if run.status == RunStatus.PENDING and time.monotonic() - started > CLUSTER_IDLE_HINT_SECONDS:
            message += " (no worker has taken it yet: is `manage.py qcluster` running on this database?)"
        if message != said:
            progress(message)
            said = message
        time.sleep(CLUSTER_POLL_SECONDS)


def research_strategy(name: str, options: ResearchOptions, progress: Progress = _noop,
                      job: ResearchJob | None = None, queued: WalkForwardRun | None = None) -> dict:
    cls = get_strategy(name)
    span = research_range(name, options) if queued is None else (queued.start, queued.end)
    if span is None:
        return {"name": name, "label": cls.label, "status": "no data",
                "message": f"no {cls.timeframe} candles for {', '.join(cls.universe)}"}
    run = wait_for_cluster(queued, progress) if queued is not None else \
        research_walkforward(name, options, span, job, progress)
    result: dict[str, Any] = {"name": name, "label": cls.label, "timeframe": cls.timeframe,
                              "universe": list(cls.universe), "walkforward_id": run.pk, "status": run.status}
    if run.status != RunStatus.SUCCEEDED:
        result["error"] = run.error_message or "failed"
        return result
    periods = list(WalkForwardPeriod.objects.filter(run=run).order_by("index").values(
        "index", "train_start", "train_end", "test_start", "test_end", "parameters", "train_metrics",
        "test_metrics", "degradation"))
    holdout = dict(run.holdout_metrics)
    result.update(summary=run.summary, periods=periods, holdout=holdout, final_parameters=run.final_parameters)
    config_id = holdout.get("config_id")
    if config_id:
        result["equity"] = _equity_points(config_id)
        result["holdout_charts"] = holdout_chart_points(config_id)
        progress(f"  {name}: Monte Carlo ({options.mc_iterations} runs)")
        result.update(montecarlo_section(config_id, options))
        progress(f"  {name}: capacity curve ({len(DEFAULT_CAPITALS)} starting capitals)")
        result["execution"] = BacktestConfig.objects.values_list("summary", flat=True).get(pk=config_id).get(
            "execution")
        result["capacity"] = capacity_test(name, run.final_parameters, run.summary["holdout_start"],
                                           run.summary["holdout_end"], timeframe=cls.timeframe,
                                           source=f"research capacity curve, walk-forward #{run.pk}")
    progress(f"  {name}: stress tests")
    result["stress"] = stress_test(name, run.final_parameters, stress_events(), timeframe=cls.timeframe,
                                   source=f"research, walk-forward #{run.pk}", outage_hours=options.stress_outage_hours)
    return result  # its lock's state is read once, after the portfolio run also touched it (research_run)


def lock_summary(name: str) -> dict:
    """The strategy's lock as the scorecard and report show it (after every evaluation of this run)."""
    lock = holdout.lock_of(name)
    if lock is None:
        return {"evaluations": 0, "configurations": 0, "contaminated": False}
    return {"holdout_start": lock.holdout_start.isoformat(), "holdout_end": lock.holdout_end.isoformat(),
            "fraction": lock.fraction, "evaluations": lock.evaluations, "configurations": lock.configuration_count,
            "contaminated": lock.contaminated, "set_by": lock.dataset_key,
            "history": [{key: entry.get(key) for key in ("at", "kind", "source", "configuration")}
                        for entry in lock.history]}


def portfolio_section(strategies: dict[str, dict]) -> dict:
    """The strategies that finished their walk-forward, together in one portfolio on their holdouts."""
    members = {name: {"parameters": result["final_parameters"],
                      "holdout_start": result["summary"]["holdout_start"],
                      "holdout_end": result["summary"]["holdout_end"]}
               for name, result in strategies.items()
               if result.get("status") == RunStatus.SUCCEEDED and result.get("summary")}
    return services.candidates_portfolio(members)


def portfolio_stress_section(strategies: dict[str, dict], options: ResearchOptions) -> dict:
    """The strategies that finished their walk-forward, together with their chosen parameters, through every
    stress window (``analytics.stress_services.portfolio_stress``)."""
    members = {name: result["final_parameters"] for name, result in strategies.items()
               if result.get("status") == RunStatus.SUCCEEDED and result.get("final_parameters") is not None}
    return portfolio_stress(members, stress_events(), outage_hours=options.stress_outage_hours)


def stress_events() -> list[StressEvent]:
    return list(StressEvent.objects.all())


def montecarlo_section(config_id: int, options: ResearchOptions) -> dict:
    """Monte Carlo summaries of the holdout trades, plus bootstrap samples for the report's histograms."""
    config = BacktestConfig.objects.get(pk=config_id)
    returns = config_trade_returns(config)
    if returns.size == 0:
        return {"montecarlo": {"message": "no holdout trades: nothing to resample"}}
    holdout.touch_stored_run(config, kind="monte carlo", source=f"research Monte Carlo of backtest #{config_id}")
    paths = simulate_paths(returns, n_iterations=options.mc_iterations, method="bootstrap", seed=options.seed,
                           fan=True)  # one bootstrap draw: the summary, the histograms and the fan
    report = monte_carlo_report(returns, n_iterations=options.mc_iterations, seed=options.seed,
                                bootstrap_paths=paths)
    return {"montecarlo": {"config_id": config_id, **report},
            "montecarlo_paths": {key: paths[key].round(6).tolist() for key in ("final_return", "max_drawdown")},
            "montecarlo_fan": paths["fan"]}


#: Candles kept per symbol for the report's holdout charts (longer holdouts are shown on coarser candles).
REPORT_CANDLES = 600


def holdout_chart_points(config_id: int) -> dict:
    """The holdout's candles (coarsened), price indicators, trade legs and buy-and-hold, as JSON for the report."""
    from analytics.charts import coarser_candles
    from analytics.run_charts import run_chart_inputs

    inputs = run_chart_inputs(BacktestConfig.objects.get(pk=config_id), max_symbols=3)
    symbols = {}
    for symbol, bars in inputs.candles.items():
        shown = coarser_candles(bars, REPORT_CANDLES)
        symbols[symbol] = {
            "bars": len(bars), "timestamps": [ts.isoformat() for ts in shown.index],
            **{column: shown[column].round(8).tolist() for column in ("open", "high", "low", "close")},
            "overlays": {name: series.reindex(shown.index, method="ffill").round(8).tolist()
                         for name, series in inputs.overlays[symbol].items()},
            "trades": json_safe(inputs.legs(symbol).to_dict("records")) if inputs.legs(symbol) is not None else []}
    benchmark = inputs.benchmark
    return {"symbols": symbols, "notes": inputs.notes,
            "benchmark": {"timestamps": [ts.isoformat() for ts in benchmark.index],
                          "equity": benchmark.round(4).tolist()} if benchmark is not None else {}}


def _equity_points(config_id: int) -> dict:
    frame = equity_frame(BacktestConfig.objects.get(pk=config_id))
    return {"timestamps": [ts.isoformat() for ts in frame.index], "equity": frame["equity"].tolist(),
            "drawdown": frame["drawdown"].tolist()}


# --------------------------------------------------------------------------- judging
def judge(strategies: dict[str, dict], portfolio: dict | None = None) -> dict:
    """Correlation of the holdout daily returns, the scorecard and the paper-trading selection."""
    returns = {}
    for name, result in strategies.items():
        series = points_series(result.get("equity"), "equity")
        if series is not None and len(series) > 1:
            returns[name] = daily_returns(series)
    corr, flagged = strategy_correlation(returns) if len(returns) > 1 else (None, [])
    results = {}
    for name, result in strategies.items():
        if result.get("status") != RunStatus.SUCCEEDED:
            continue
        holdout = result.get("holdout") or {}
        summary = result.get("summary") or {}
        edge = summary.get("edge") or {}
        lock = result.get("holdout_lock") or {}
        drawdowns = [p["test_metrics"].get("max_drawdown") for p in result.get("periods", []) if p["test_metrics"]]
        in_portfolio = portfolio is not None and name in (portfolio.get("members") or {})
        results[name] = {
            "oos_sharpe": holdout.get("sharpe"),
            "max_drawdowns": [*drawdowns, holdout.get("max_drawdown")],
            "portfolio_max_drawdown": (portfolio.get("performance") or {}).get("max_drawdown") if in_portfolio
            else None,
            "profitable_test_share": summary.get("stability", {}).get("share_profitable_test"),
            "win_rate": holdout.get("win_rate"),
            "predicted_win_rate": get_strategy(name).predicted_win_rate,
            "n_positions": holdout.get("n_trades"),
            "permutation_p": (edge.get("permutation") or {}).get("p_value"),
            "pbo": (edge.get("pbo") or {}).get("pbo"),
            "holdout_evaluations": lock.get("evaluations", 0),
            "configurations": lock.get("configurations", 0),
            "contaminated": lock.get("contaminated", False),
            "fallback_share": (holdout.get("data_coverage") or {}).get("fallback_share"),
        }
    card = scorecard(results, correlation=corr)
    return {"correlation": correlation_to_dict(corr) if corr is not None else None,
            "correlated_pairs": flagged, "scorecard": card, "selection": select_for_paper_trading(card)}


# --------------------------------------------------------------------------- reports
def write_reports(report: dict, folder: Path) -> dict:
    html_path, md_path = folder / "report.html", folder / "summary.md"
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return {"html": str(html_path), "markdown": str(md_path), "json": str(folder / "report.json")}


def research_job(*, job: ResearchJob | None = None, **options: Any) -> dict:
    """Job adapter: run the pipeline in a worker (its progress on the job, for the admin and the API); the
    result keeps the selection and the report paths."""

    def progress(message: str) -> None:
        if job is not None:
            ResearchJob.objects.filter(pk=job.pk).update(progress=message.strip()[:255])

    report = research_run(ResearchOptions(**options), job=job, progress=progress)
    return {"paths": report["paths"], "selection": report["selection"], "timings": report["timings"]}


def register_jobs() -> None:
    register_job("research", "Full research run", research_job, pass_job=True)
