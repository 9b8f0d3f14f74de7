"""``manage.py ingest_social --tokens BTC,ETH [--token SOL] --start 2023-01-01 --end 2023-02-01``"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from interfaces.cli import listed_and_repeated, parse_symbols
from marketdata.onchain_services import social_ingest
from marketdata.symbols import SYMBOLS


class Command(BaseCommand):
    help = ("Fetch daily social metrics from LunarCrush into SocialMetric (needs LUNARCRUSH_API_KEY). "
            "Exit code 1 when any token failed (the others are kept).")

    def add_arguments(self, parser):
        parser.add_argument("--tokens", help="comma-separated token symbols (default: all 20)")
        parser.add_argument("--token", action="append", dest="token_list", help="one token symbol; may be repeated")
        parser.add_argument("--start", type=date.fromisoformat, required=True, help="YYYY-MM-DD, inclusive.")
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="YYYY-MM-DD, exclusive.")

    def handle(self, *args, tokens=None, token_list=None, start=None, end=None, **options):
        requested = listed_and_repeated(tokens, token_list)
        symbols = parse_symbols(",".join(requested), "--tokens") if requested else list(SYMBOLS)
        try:
            summary = social_ingest(tokens=symbols, start=start, end=end)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if summary.get("skipped"):  # the work asked for was not done: not a success
            raise CommandError(summary["message"])
        for token, entry in summary["tokens"].items():
            if entry["error"]:
                self.stderr.write(f"{token}: FAILED, nothing written: {entry['error']}")
            else:
                self.stdout.write(f"{token}: {entry['created']} created, {entry['updated']} updated, "
                                  f"{entry['unchanged']} unchanged")
        total = (f"social: {summary['created']} created, {summary['updated']} updated, {summary['unchanged']} "
                 f"unchanged, {len(summary['failed'])} of {len(summary['tokens'])} token(s) failed")
        if summary["failed"]:
            raise CommandError(f"{total}: {', '.join(summary['failed'])}")
        self.stdout.write(self.style.SUCCESS(total))
