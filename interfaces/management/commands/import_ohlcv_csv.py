"""``manage.py import_ohlcv_csv PATH... --symbol BTC --timeframe 1h``: Binance kline dumps and the like."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.csv_import import CandleFileError, ohlcv_csv_import


class Command(BaseCommand):
    help = ("Import candle files (Binance data.binance.vision kline dumps: .csv, .csv.gz, .zip; "
            "ms or µs times; with or without header). Re-importing adds nothing.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--source", default="binance_csv")
        parser.add_argument("--force", action="store_true",
                            help="import even when the file name or its ticker column names another symbol/timeframe")

    def handle(self, *args, **options) -> None:
        def progress(file_result) -> None:
            dropped = f", dropped off-grid {file_result.dropped_off_grid}" if file_result.dropped_off_grid else ""
            self.stdout.write(f"{file_result.path}: {file_result.received} rows, inserted {file_result.inserted}, "
                              f"skipped {file_result.skipped}{dropped}")

        try:
            result = ohlcv_csv_import(paths=options["paths"], symbol=options["symbol"],
                                      timeframe=options["timeframe"], source=options["source"], force=options["force"],
                                      progress=progress)
        except (CandleFileError, ValueError) as error:
            raise CommandError(f"{error} (nothing was imported)") from None
        totals = result.totals
        self.stdout.write(f"total: {totals.received} rows, inserted {totals.inserted}, skipped {totals.skipped}")
