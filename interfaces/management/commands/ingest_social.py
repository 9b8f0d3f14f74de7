"""``manage.py ingest_social --token BTC --token ETH --start 2023-01-01 --end 2023-02-01``"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from marketdata.onchain_services import social_ingest
from marketdata.symbols import SYMBOLS


class Command(BaseCommand):
    help = "Fetch daily social metrics from LunarCrush into SocialMetric (needs LUNARCRUSH_API_KEY)."

    def add_arguments(self, parser):
        parser.add_argument("--token", action="append", dest="tokens",
                            help="Token symbol; repeat for several (default: all 20).")
        parser.add_argument("--start", type=date.fromisoformat, required=True, help="YYYY-MM-DD, inclusive.")
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="YYYY-MM-DD, exclusive.")

    def handle(self, *args, tokens=None, start=None, end=None, **options):
        try:
            summary = social_ingest(tokens=tokens or list(SYMBOLS), start=start, end=end)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if summary.get("skipped"):
            self.stdout.write(self.style.WARNING(summary["message"]))
            return
        for token, entry in summary["tokens"].items():
            if entry["error"]:
                self.stderr.write(f"{token}: FAILED, nothing written: {entry['error']}")
            else:
                self.stdout.write(f"{token}: {entry['created']} created, {entry['updated']} updated, "
                                  f"{entry['unchanged']} unchanged")
        self.stdout.write(self.style.SUCCESS(
            f"social: {summary['created']} created, {summary['updated']} updated, "
            f"{summary['unchanged']} unchanged, {len(summary['failed'])} token(s) failed"
        ))
