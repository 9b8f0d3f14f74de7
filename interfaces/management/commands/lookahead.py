"""``manage.py lookahead``: re-run a strategy on data cut at sampled bars (or at every bar) and compare.

Exit codes: 0 passed, 1 look-ahead found, 2 nothing checked or bad input (see ``Command.help``).
"""

from __future__ import annotations

import json
import time

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from analytics.lookahead import LOOKAHEAD_FOUND, MODES, NOTHING_CHECKED
from analytics.services import lookahead_job
from interfaces.cli import parse_json_object, parse_symbols, parse_when
from marketdata.timeframes import TIMEFRAMES
from strategies.registry import STRATEGIES

#: Exit code of a check that found look-ahead (0: passed; BAD_INPUT: nothing checked or bad input).
FOUND = 1
BAD_INPUT = 2
#: At most this many differences are printed (``--json`` prints every one the report kept).
SHOWN_DIFFERENCES = 50


class Command(BaseCommand):
    help = ("Look-ahead analysis: re-run the strategy on data cut at a bar T (rows <= T only) and report every "
            "signal or indicator value that differs from the full run. --mode sample (default) cuts at "
            "--sample bars where the full run signals and at --non-signal-sample bars where it does not; "
            "--mode replay cuts at every bar after the warm-up and compares the decision at that bar (exact, "
            "one strategy run per bar). Exit codes: 0 = passed (something was checked and nothing differed); "
            "1 = look-ahead found; 2 = nothing checked (no candles in the range, no bar after the warm-up) "
            "or bad input (unknown strategy or symbol, start not before end, invalid JSON or number).")

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help=f"one of: {', '.join(sorted(STRATEGIES))}")
        parser.add_argument("--start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD")
        parser.add_argument("--symbols", help="comma-separated (default: the strategy's universe)")
        parser.add_argument("--timeframe", help="default: the strategy's own")
        parser.add_argument("--parameters", default="{}", help="JSON object of strategy parameters")
        parser.add_argument("--mode", choices=MODES, default="sample",
                            help="sample: cut at sampled bars (default); replay: cut at every bar after the "
                                 "warm-up (slow: one strategy run per bar)")
        parser.add_argument("--sample", type=int, default=20, help="sample mode: signal bars to cut at (default 20)")
        parser.add_argument("--non-signal-sample", type=int, default=None,
                            help="sample mode: bars where the strategy does not signal to cut at "
                                 "(default: as many as --sample; 0 for none)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the sampled cuts")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def execute(self, *args, **options):
        """Every CommandError of this command (bad input, nothing checked) exits with code 2."""
        try:
            return super().execute(*args, **options)
        except CommandError as error:
            if error.returncode == BAD_INPUT:
                raise
            raise CommandError(str(error), returncode=BAD_INPUT) from None

    def handle(self, *args, **opts):
        name = opts["strategy"]
        if name not in STRATEGIES:
            raise CommandError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
        cls = STRATEGIES[name]
        parameters = parse_json_object(opts["parameters"], "--parameters")
        start, end = parse_when(opts["start"], "--start"), parse_when(opts["end"], "--end")
        if start is None or end is None:
            raise CommandError("--start and --end need a date (YYYY-MM-DD)")
        if end <= start:
            raise CommandError(f"--end must be after --start (got --start {opts['start']}, --end {opts['end']})")
        if opts["sample"] < 1:
            raise CommandError(f"--sample must be at least 1, got {opts['sample']}")
        if opts["non_signal_sample"] is not None and opts["non_signal_sample"] < 0:
            raise CommandError(f"--non-signal-sample must be at least 0, got {opts['non_signal_sample']}")
        timeframe = opts["timeframe"] or cls.timeframe
        if timeframe not in TIMEFRAMES:
            raise CommandError(f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}")
        symbols = self._symbols(opts["symbols"]) or list(cls.universe)
        options = {"mode": opts["mode"], "progress": self._progress(opts["mode"])}
        if opts["non_signal_sample"] is not None:
            options["non_signal_sample"] = opts["non_signal_sample"]
        try:
            report = lookahead_job(strategy=name, start=start.isoformat(), end=end.isoformat(), symbols=symbols,
                                   timeframe=timeframe, parameters=parameters, sample=opts["sample"],
                                   seed=opts["seed"], **options)
        except ValueError as exc:
            raise CommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=1, default=str))
        else:
            self._print(name, report)
        if report["status"] == NOTHING_CHECKED:
            raise CommandError(self._nothing_checked(report, symbols, timeframe, start, end))
        if report["status"] == LOOKAHEAD_FOUND:
            raise SystemExit(FOUND)

    @staticmethod
    def _symbols(value: str | None) -> list[str]:
        return parse_symbols(value)

    def _progress(self, mode: str):
        """Replay runs are long: a line on stderr at most every 10 seconds (none for sample mode)."""
        if mode != "replay":
            return None
        last = [time.monotonic()]
        began = last[0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 10 or (done == total and now - began >= 10):
                last[0] = now
                rate = done / max(now - began, 1e-9)
                self.stderr.write(f"replay: {done}/{total} bars ({rate:.0f} bars/s)")
                self.stderr.flush()

        return report

    def _print(self, name: str, report: dict) -> None:
        where = (f"{report['signal_cuts']} at signals, {report['non_signal_cuts']} elsewhere")
        if report["mode"] == "replay":
            where = f"every bar after the warm-up: {where}"
        self.stdout.write(f"{name}: {report['mode']} mode, {report['cuts_checked']} cuts ({where}); "
                          f"{report['signal_bars']} signal bars; {report['difference_count']} differences"
                          + _timing(report))
        for diff in report["differences"][:SHOWN_DIFFERENCES]:
            self.stdout.write("  " + _describe(diff))
        if len(report["differences"]) > SHOWN_DIFFERENCES:
            self.stdout.write(f"  ... {report['difference_count'] - SHOWN_DIFFERENCES} more (--json lists "
                              f"{len(report['differences'])})")
        for note in [*report.get("data_notes", []), *report.get("notes", [])]:
            self.stdout.write(f"  note: {note}")
        if report["status"] == LOOKAHEAD_FOUND:
            self.stdout.write(f"FAILED: look-ahead found: {report['difference_count']} differences at "
                              f"{report['differing_cuts']} of {report['cuts_checked']} cuts ({where})")
        elif report["status"] != NOTHING_CHECKED:
            self.stdout.write(f"PASSED: no look-ahead found at {report['cuts_checked']} cuts ({where})")

    @staticmethod
    def _nothing_checked(report: dict, symbols: list[str], timeframe: str, start: pd.Timestamp,
                         end: pd.Timestamp) -> str:
        span = f"between {start:%Y-%m-%d} and {end:%Y-%m-%d}"
        if not any(report.get("bars", {}).values()):
            return f"no {timeframe} candles for {', '.join(symbols)} {span}: nothing to check"
        reason = report["notes"][-1] if report.get("notes") else "no cut"
        return f"{', '.join(symbols)} {timeframe} {span}: {reason}"


def _timing(report: dict) -> str:
    """The time taken, e.g. " in 12.3 s (27 cuts/s)", for checks that took a second or more; "" otherwise."""
    seconds = report.get("elapsed_seconds") or 0.0
    if seconds < 1.0:
        return ""
    return f" in {seconds:.1f} s ({report['cuts_checked'] / seconds:.0f} cuts/s)"


def _describe(diff: dict) -> str:
    """One difference in words: symbol, bar, column, both values, and where the data was cut."""
    cut_at = _when(diff["cut_at"])
    bar = _when(diff["timestamp"]) if diff["timestamp"] is not None else "(whole frame)"
    where = "data cut at this bar" if bar == cut_at else f"data cut at {cut_at}"
    return (f"{diff['symbol']} {bar} {diff['column']!r}: full run {_value(diff['full_value'])}, "
            f"cut run {_value(diff['cut_value'])} ({where})")


def _when(iso: str) -> str:
    return f"{pd.Timestamp(iso):%Y-%m-%d %H:%M}"


def _value(value) -> str:
    return "NaN" if value is None else repr(value)
