"""``manage.py load_sample_data``: the bundled real dataset, offline and idempotent."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from marketdata.csv_import import CandleFileError
from marketdata.sample import sample_files, sample_load
from marketdata.sample_fundamentals import fundamentals_load


class Command(BaseCommand):
    help = ("Load the bundled candles (source 'bundled') and the bundled on-chain and sentiment data (stored under "
            "their vendors) from marketdata/sample_data; see its PROVENANCE.md.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbols", help="comma-separated; default: all bundled")
        parser.add_argument("--timeframes", help="comma-separated; default: all bundled (1m, 15m, 1h, 1d)")
        parser.add_argument("--skip-fundamentals", action="store_true",
                            help="load candles only, not the on-chain and sentiment series")

    def handle(self, *args, **options) -> None:
        symbols = options["symbols"].split(",") if options["symbols"] else None
        timeframes = options["timeframes"].split(",") if options["timeframes"] else None
        files = sample_files(symbols=symbols, timeframes=timeframes)
        if not files:
            raise CommandError("no bundled file matches those symbols/timeframes")
        started = time.perf_counter()
        with tqdm(total=len(files), unit="file", disable=not sys.stderr.isatty()) as bar:
            def progress(entry: dict) -> None:
                bar.set_postfix_str(f"{entry['symbol']} {entry['timeframe']}")
                bar.update(1)

            try:
                result = sample_load(symbols=symbols, timeframes=timeframes, progress=progress)
            except CandleFileError as error:
                raise CommandError(str(error)) from None
        for entry in result["files"]:
            notes = [f"dropped {entry['dropped']}" if entry["dropped"] else "",
                     f"repaired {entry['repaired']}" if entry["repaired"] else ""]
            extra = ", ".join(n for n in notes if n)
            self.stdout.write(f"{entry['symbol']:5} {entry['timeframe']:3} {entry['inserted']:>7} new "
                              f"{entry['skipped']:>7} skipped  {entry['file']}{'  (' + extra + ')' if extra else ''}")
        self.stdout.write(self.style.SUCCESS(
            f"{len(result['files'])} files, {result['received']} rows: inserted {result['inserted']}, "
            f"skipped {result['skipped']} (already stored), dropped {result['dropped']}, repaired "
            f"{result['repaired']} in {time.perf_counter() - started:.1f} s"))
        if not options["skip_fundamentals"]:
            self._load_fundamentals()

    def _load_fundamentals(self) -> None:
        started = time.perf_counter()
        result = fundamentals_load()
        for entry in result["files"]:
            series = ", ".join(f"{key} {rows}" for key, rows in entry["series"].items())
            dropped = f"  (dropped {entry['dropped']})" if entry["dropped"] else ""
            self.stdout.write(f"{entry['vendor']:14} {entry['created']:>6} new {entry['updated']:>6} updated "
                              f"{entry['unchanged']:>6} unchanged  {series}{dropped}")
        self.stdout.write(self.style.SUCCESS(
            f"{len(result['files'])} fundamentals files: created {result['created']}, updated {result['updated']}, "
            f"unchanged {result['unchanged']} in {time.perf_counter() - started:.1f} s"))
