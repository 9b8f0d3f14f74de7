"""``manage.py research``: the whole research pipeline on the chosen data (default: the bundled sample)."""

from __future__ import annotations

import sys
import threading

from django.core.management.base import BaseCommand, CommandError

from analytics import holdout
from analytics.report import num, pct
from analytics.research import ResearchOptions, research_run
from interfaces.cli import parse_when, require_positive
from strategies.registry import STRATEGIES


class Command(BaseCommand):
    help = ("Run the research pipeline: data (bundled sample if the database is empty), data quality, "
            "indicators, walk-forward per strategy, the locked holdout, Monte Carlo, stress tests, "
            "correlation, scorecard; writes an HTML report and a Markdown summary.")

    def add_arguments(self, parser):
        parser.add_argument("--strategies", help="comma-separated strategy names (default: the five)")
        parser.add_argument("--start", help="YYYY-MM-DD (default: each strategy's first candle)")
        parser.add_argument("--end", help="YYYY-MM-DD (default: each strategy's last candle)")
        defaults = ResearchOptions()
        parser.add_argument("--train-months", type=int, default=defaults.train_months)
        parser.add_argument("--test-months", type=int, default=defaults.test_months)
        parser.add_argument("--holdout", type=float, default=defaults.holdout_fraction,
                            help=f"holdout fraction, {holdout.MIN_FRACTION}..{holdout.MAX_FRACTION} (default "
                                 f"{defaults.holdout_fraction}); a strategy already locked accepts only its lock's")
        parser.add_argument("--trials", type=int, default=defaults.max_trials,
                            help="parameter sets tried per optimisation")
        parser.add_argument("--search", choices=["random", "grid"], default=defaults.search)
        parser.add_argument("--mc-iterations", type=int, default=defaults.mc_iterations)
        parser.add_argument("--permutations", type=int, default=defaults.permutations,
                            help="bar permutations of the signal test on each holdout (0 skips it)")
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--cache-indicators", action="store_true",
                            help="also write the strategies' indicators to the indicator cache (an export: no "
                                 "strategy reads it, so the research run skips it unless asked)")
        parser.add_argument("--report-dir", help="where to write the report (default: reports/)")
        parser.add_argument("--stress-outage-hours", type=float, default=defaults.stress_outage_hours,
                            help="hours without fills in the exchange-outage stress scenario (default "
                                 f"{defaults.stress_outage_hours:g})")
        parser.add_argument("--cluster", action="store_true",
                            help="fan the walk-forwards out over the django-q2 cluster (one task per strategy x "
                                 "period; start `manage.py qcluster` on one or more hosts sharing the database)")

    def handle(self, *args, **opts):
        names = [n.strip() for n in opts["strategies"].split(",")] if opts["strategies"] else None
        unknown = sorted(set(names or []) - set(STRATEGIES))
        if unknown:
            raise CommandError(f"unknown strategies {unknown}; known: {', '.join(sorted(STRATEGIES))}")
        try:
            holdout.check_fraction(opts["holdout"])
        except ValueError as exc:
            raise CommandError(f"--holdout: {exc}") from None
        require_positive(opts, "trials", "mc_iterations", "train_months", "test_months")
        if not opts["stress_outage_hours"] > 0:
            raise CommandError(f"--stress-outage-hours must be more than 0, got {opts['stress_outage_hours']}")
        if opts["permutations"] < 0:
            raise CommandError(f"--permutations must be 0 (skip) or more, got {opts['permutations']}")
        start, end = parse_when(opts["start"], "--start"), parse_when(opts["end"], "--end")
        if start is not None and end is not None and end <= start:
            raise CommandError("--end must be after --start")
        options = ResearchOptions(
            start=start, end=end, train_months=opts["train_months"],
            test_months=opts["test_months"], holdout_fraction=opts["holdout"], search=opts["search"],
            max_trials=opts["trials"], mc_iterations=opts["mc_iterations"], permutations=opts["permutations"],
            seed=opts["seed"],
            cache_indicators=opts["cache_indicators"], report_dir=opts["report_dir"],
            cluster=opts["cluster"], stress_outage_hours=opts["stress_outage_hours"])
        if names:
            options.strategies = names
        progress = self._progress()
        try:
            report = research_run(options, progress=progress)
        except ValueError as exc:  # e.g. an unwritable --report-dir, refused before any work
            raise CommandError(str(exc)) from exc
        self._print_summary(report)

    def _progress(self):
        from tqdm import tqdm

        if sys.stderr.isatty():
            bar = tqdm(total=None, bar_format="{desc} [{elapsed}]", file=sys.stderr)
            ticking = threading.Event()

            def tick() -> None:  # the elapsed time keeps moving during a long step (a step reports only its end)
                while not ticking.wait(1.0):
                    bar.refresh()

            threading.Thread(target=tick, daemon=True, name="research-progress").start()

            def update(message: str) -> None:
                bar.set_description_str(message)
                bar.refresh()
            return update
        return lambda message: self.stderr.write(message)

    def _print_summary(self, report: dict) -> None:
        out = self.stdout
        out.write("")
        out.write("Strategy results on the locked holdout (ratios: 365-day annualised, daily returns)")
        header = f"{'strategy':28} {'return':>8} {'Sharpe':>7} {'max DD':>7} {'positions':>9} {'win':>6}  WF-profitable"
        out.write(header)
        for name, result in report["strategies"].items():
            holdout = result.get("holdout") or {}
            stability = ((result.get("summary") or {}).get("stability") or {}).get("share_profitable_test")
            if result.get("status") != "succeeded":
                out.write(f"{name:28} not evaluated: {result.get('message') or result.get('error')}")
                continue
            out.write(f"{name:28} {pct(holdout.get('total_return')):>8} {num(holdout.get('sharpe')):>7} "
                      f"{pct(holdout.get('max_drawdown')):>7} {holdout.get('n_trades') or 0:>9} "
                      f"{pct(holdout.get('win_rate'), 0):>6}  {pct(stability, 0)}")
        selection = report["selection"]
        out.write("")
        out.write(f"Selection for paper trading: {selection['message']}")
        for pick in selection["selected"]:
            out.write(f"  selected   {pick['name']}: {pick['reason']}")
        for pick in selection["candidates_not_meeting_criteria"]:
            out.write(f"  NOT ready  {pick['name']}: {pick['reason']}")
        out.write("")
        out.write(f"Report: {report['paths']['html']}")
        out.write(f"Summary: {report['paths']['markdown']}")
        out.write(f"Total time: {report['timings']['total']:.1f} s")
