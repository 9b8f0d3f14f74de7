"""``manage.py compute_indicators --symbols BTC,ETH --timeframe 1h [--indicators rsi,macd] [--start --end]``

Fills the indicator cache (``technical_indicators``) for each symbol; a thin shell over
:func:`marketdata.indicator_cache.indicators_sync`.
"""

from __future__ import annotations

import sys

import pandas as pd
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.timeutil import utc_timestamp
from marketdata.indicator_cache import indicators_sync, parse_requests
from marketdata.timeframes import TIMEFRAMES


def _utc(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    return utc_timestamp(text)


class Command(BaseCommand):
    help = "Compute technical indicators for symbols and store the missing rows in technical_indicators."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--symbols", required=True, help="Comma-separated, e.g. BTC,ETH")
        parser.add_argument("--timeframe", required=True, choices=list(TIMEFRAMES))
        parser.add_argument(
            "--indicators",
            default=None,
            help="Comma-separated names (default: the whole default set). A bare name takes its default "
                 "parameter sets (ema -> 9,20,50,200); 'rsi:window=21' or 'bbands:window=20;std=2.5' "
                 "picks one.",
        )
        parser.add_argument("--start", default=None, help="Only report rows from this UTC time (ISO 8601).")
        parser.add_argument("--end", default=None, help="Use candles before this UTC time (ISO 8601).")
        parser.add_argument("--rebuild", action="store_true", help="Delete and recompute the stored rows.")
        parser.add_argument("--verify", action="store_true",
                            help="Recompute up-to-date indicators too and rewrite any made stale by backfilled "
                                 "candles.")

    def handle(self, *args, **options) -> None:
        symbols = [s.strip().upper() for s in options["symbols"].split(",") if s.strip()]
        requests = None
        if options["indicators"]:
            requests = [item.strip() for item in options["indicators"].split(",") if item.strip()]
        try:
            keys = parse_requests(requests)
            start, end = _utc(options["start"]), _utc(options["end"])
        except ValueError as error:
            raise CommandError(str(error)) from error

        show_bar = sys.stderr.isatty() and options["verbosity"] > 0
        total = 0
        bar = tqdm(symbols, desc="symbols", unit="symbol", disable=not show_bar)
        write = bar.write if show_bar else self.stdout.write  # lines above the bar, not through it
        for symbol in bar:
            result = indicators_sync(symbol=symbol, timeframe=options["timeframe"],
                                     indicators=[(k.name, k.params_dict) for k in keys],
                                     start=start, end=end, rebuild=options["rebuild"], verify=options["verify"])
            total += result.inserted_total
            bars = len(result.frame)
            if not bars:
                write(f"{symbol} {options['timeframe']}: no candles, nothing computed")
                continue
            cached = len(keys) - len(result.computed)
            write(
                f"{symbol} {options['timeframe']}: {bars} bars, computed {len(result.computed)} indicator(s) "
                f"({', '.join(result.computed) or 'none'}), {cached} already cached, "
                f"inserted {result.inserted_total} rows"
                + (f", rebuilt {', '.join(result.rebuilt)}" if result.rebuilt else "")
            )
        self.stdout.write(self.style.SUCCESS(f"done: {total} rows inserted for {len(symbols)} symbol(s)"))
