"""``manage.py data_quality [--symbols BTC,ETH] [--timeframe 1h] [--json]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interfaces.cli import parse_symbols
from marketdata.quality_services import data_quality_report
from marketdata.timeframes import timeframe_delta


class Command(BaseCommand):
    help = "Report gaps, duplicates, broken OHLC rows, zero-volume/flat candles, outliers and a score per series."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbols", help="comma-separated; default: every stored symbol")
        parser.add_argument("--timeframe")
        parser.add_argument("--json", action="store_true", help="the full report as JSON")
        parser.add_argument("--max-gaps", type=int, default=5, help="gaps listed per series (text output)")

    def handle(self, *args, **options) -> None:
        if options["timeframe"]:
            try:
                timeframe_delta(options["timeframe"])
            except ValueError as error:
                raise CommandError(str(error)) from None
        symbols = parse_symbols(options["symbols"]) or None
        report = data_quality_report(symbols=symbols, timeframe=options["timeframe"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for s in report["series"]:
            self.stdout.write(
                f"{s['symbol']:5} {s['timeframe']:3} score {s['score']:.3f}  rows {s['rows']:>7}/{s['expected_rows']:<7}"
                f" {s['first'] or '-'} .. {s['last'] or '-'}  missing {s['missing_bars']} in {len(s['gaps'])} gaps,"
                f" invalid {s['invalid_ohlc']}, dup {s['duplicates']}, zero-vol {s['zero_volume']},"
                f" flat {s['flat']}, outliers {s['outlier_count']}")
            biggest = sorted(s["gaps"], key=lambda g: g["missing_bars"], reverse=True)[: options["max_gaps"]]
            for gap in biggest:
                self.stdout.write(f"        gap {gap['start']} -> {gap['end']} ({gap['missing_bars']} bars)")
        summary = report["summary"]
        if summary["no_data"]:
            self.stdout.write(self.style.WARNING(f"no candles stored for: {', '.join(summary['no_data'])}"))
        if symbols and set(summary["no_data"]) >= set(symbols):
            raise CommandError(f"no candles stored for {', '.join(symbols)}"
                               + (f" at {options['timeframe']}" if options["timeframe"] else "")
                               + ": nothing to assess (ingest or load data first)")
        self.stdout.write(f"{summary['series']} series, {summary['rows']} rows, {summary['missing_bars']} missing "
                          f"bars in {summary['gaps']} gaps, {summary['invalid_ohlc']} invalid rows, "
                          f"{summary['outliers']} outliers")
