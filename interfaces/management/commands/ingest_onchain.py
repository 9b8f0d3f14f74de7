"""``manage.py ingest_onchain [--protocols aave,gmx] [--protocol curve] [--start 2022-01-01] [--end 2022-12-31]``"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from interfaces.cli import listed_and_repeated
from marketdata.onchain_services import onchain_ingest


class Command(BaseCommand):
    help = ("Fetch protocol TVL, fees, revenue, volume and stablecoin supply from DefiLlama into OnchainMetric. "
            "Exit code 1 when any protocol failed (the others are kept).")

    def add_arguments(self, parser):
        parser.add_argument("--protocols", help="comma-separated DefiLlama protocol keys or token symbols "
                                                "(default: all)")
        parser.add_argument("--protocol", action="append", dest="protocol_list",
                            help="one protocol key or token symbol; may be repeated")
        parser.add_argument("--start", type=date.fromisoformat, help="First date (YYYY-MM-DD, inclusive).")
        parser.add_argument("--end", type=date.fromisoformat, help="Last date (YYYY-MM-DD, inclusive).")

    def handle(self, *args, protocols=None, protocol_list=None, start=None, end=None, **options):
        try:
            summary = onchain_ingest(protocols=listed_and_repeated(protocols, protocol_list), start=start, end=end)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for key, entry in summary["protocols"].items():
            if entry["error"]:
                self.stderr.write(f"{key}: FAILED, nothing written: {entry['error']}")
                continue
            line = f"{key}: {entry['created']} created, {entry['updated']} updated, {entry['unchanged']} unchanged"
            if entry["missing"]:
                line += f" (no DefiLlama series: {', '.join(entry['missing'])})"
            self.stdout.write(line)
        total = (f"on-chain: {summary['created']} created, {summary['updated']} updated, {summary['unchanged']} "
                 f"unchanged, {len(summary['failed'])} of {len(summary['protocols'])} protocol(s) failed")
        if summary["failed"]:
            raise CommandError(f"{total}: {', '.join(summary['failed'])}")
        self.stdout.write(self.style.SUCCESS(total))
