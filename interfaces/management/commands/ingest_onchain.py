"""``manage.py ingest_onchain [--protocol aave --protocol GMX] [--start 2022-01-01] [--end 2022-12-31]``"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from marketdata.onchain_services import onchain_ingest


class Command(BaseCommand):
    help = "Fetch protocol TVL, fees, revenue, volume and stablecoin supply from DefiLlama into OnchainMetric."

    def add_arguments(self, parser):
        parser.add_argument("--protocol", action="append", dest="protocols",
                            help="DefiLlama protocol key or token symbol; repeat for several (default: all).")
        parser.add_argument("--start", type=date.fromisoformat, help="First date (YYYY-MM-DD, inclusive).")
        parser.add_argument("--end", type=date.fromisoformat, help="Last date (YYYY-MM-DD, inclusive).")

    def handle(self, *args, protocols=None, start=None, end=None, **options):
        try:
            summary = onchain_ingest(protocols=protocols, start=start, end=end)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for key, entry in summary["protocols"].items():
            line = f"{key}: {entry['created']} created, {entry['updated']} updated, {entry['unchanged']} unchanged"
            if entry["missing"]:
                line += f" (no DefiLlama series: {', '.join(entry['missing'])})"
            if entry["error"]:
                self.stderr.write(f"{key}: FAILED, nothing written: {entry['error']}")
            else:
                self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(
            f"on-chain: {summary['created']} created, {summary['updated']} updated, "
            f"{summary['unchanged']} unchanged, {len(summary['failed'])} protocol(s) failed"
        ))
