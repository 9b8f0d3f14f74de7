"""``manage.py lookahead``: re-run a strategy on data cut just after sampled signals and compare."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from analytics.services import lookahead_job
from interfaces.cli import parse_json_object, parse_when
from strategies.registry import STRATEGIES


class Command(BaseCommand):
    help = ("Look-ahead analysis: re-run the strategy on data cut just after a sample of its signals and "
            "report every signal or indicator value that differs from the full run. Exit code 1 when one does.")

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help=f"one of: {', '.join(sorted(STRATEGIES))}")
        parser.add_argument("--start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD")
        parser.add_argument("--symbols", help="comma-separated (default: the strategy's universe)")
        parser.add_argument("--timeframe", help="default: the strategy's own")
        parser.add_argument("--parameters", default="{}", help="JSON object of strategy parameters")
        parser.add_argument("--sample", type=int, default=20, help="signal bars to cut at")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args, **opts):
        if opts["strategy"] not in STRATEGIES:
            raise CommandError(f"unknown strategy {opts['strategy']!r}; known: {', '.join(sorted(STRATEGIES))}")
        parameters = parse_json_object(opts["parameters"], "--parameters")
        start, end = parse_when(opts["start"], "--start"), parse_when(opts["end"], "--end")
        cls = STRATEGIES[opts["strategy"]]
        symbols = [s.strip().upper() for s in opts["symbols"].split(",")] if opts["symbols"] else None
        try:
            report = lookahead_job(strategy=opts["strategy"], start=start.isoformat(), end=end.isoformat(), symbols=symbols,
                                   timeframe=opts["timeframe"] or cls.timeframe, parameters=parameters,
                                   sample=opts["sample"], seed=opts["seed"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=1, default=str))
        else:
            self.stdout.write(f"{opts['strategy']}: {len(report['cuts'])} cuts over {report['signal_bars']} signal "
                              f"bars, {report['difference_count']} differences")
            for diff in report["differences"][:50]:
                self.stdout.write(f"  {diff}")
            for note in report.get("notes", []):
                self.stdout.write(f"  note: {note}")
            self.stdout.write("PASSED: no look-ahead found" if report["passed"] else "FAILED: look-ahead found")
        if not report["passed"]:
            raise SystemExit(1)
