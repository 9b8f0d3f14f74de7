"""``manage.py ingest_ohlcv --symbols BTC,ETH --timeframe 1h --start 2023-01-01 --end 2023-02-01``."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from interfaces.cli import parse_when, split_list
from marketdata.ingestion import ohlcv_ingest


class Command(BaseCommand):
    help = "Fetch OHLCV candles from Binance or CoinGecko into the database (resumes cut-off runs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC,ETH")
        parser.add_argument("--timeframe", required=True, help="1m 5m 15m 1h 4h 1d 1w")
        parser.add_argument("--start", required=True, help="UTC date or time, inclusive")
        parser.add_argument("--end", required=True, help="UTC date or time, exclusive")
        parser.add_argument("--source", choices=["binance", "coingecko"], help="default: chosen per symbol")

    def handle(self, *args, **options) -> None:
        bars: dict[str, tqdm] = {}
        show = sys.stderr.isatty()

        def progress(event: dict) -> None:
            if event["event"] == "start":
                bars[event["symbol"]] = tqdm(total=event["expected_bars"], desc=event["symbol"], unit="bar",
                                             disable=not show, leave=True)
            elif event["event"] == "page":
                bars[event["symbol"]].update(event["rows"])
            elif event["event"] == "done":
                bars.pop(event["symbol"]).close()

        try:
            with logging_redirect_tqdm():  # a provider's warning is printed above the bars, not through them
                result = ohlcv_ingest(
                    symbols=split_list(options["symbols"]), timeframe=options["timeframe"],
                    start=parse_when(options["start"], "--start"), end=parse_when(options["end"], "--end"),
                    source=options["source"], progress=progress,
                )
        except ValueError as error:
            raise CommandError(str(error)) from None
        for item in result.symbols:
            resumed = f", resumed from {item.resumed_from}" if item.resumed_from else ""
            status = f"  ERROR {item.error}" if item.error else ""
            self.stdout.write(f"{item.symbol:6} {item.source:10} fetched {item.fetched:>8}  inserted "
                              f"{item.inserted:>8}  skipped {item.skipped:>8}{resumed}{status}")
            for repair in item.repairs:
                self.stdout.write(f"       repaired: {repair}")
        totals = result.totals()
        self.stdout.write(f"total: fetched {totals['fetched']}, inserted {totals['inserted']}, "
                          f"skipped {totals['skipped']}")
        if not result.ok:
            failed = ", ".join(item.symbol for item in result.symbols if item.error)
            raise CommandError(f"ingestion failed for {failed}; rows written before the failure are kept, "
                               "re-run to resume")
