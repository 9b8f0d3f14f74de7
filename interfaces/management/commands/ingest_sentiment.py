"""``manage.py ingest_sentiment``: the whole Crypto Fear & Greed history from alternative.me (no key)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from marketdata.onchain_services import sentiment_ingest


class Command(BaseCommand):
    help = ("Fetch the Crypto Fear & Greed index (alternative.me /fng/?limit=0, free, no key; base URL: "
            "FEAR_GREED_BASE_URL) into SentimentIndex. Idempotent; a failure writes nothing.")

    def handle(self, *args, **options) -> None:
        summary = sentiment_ingest()
        if summary["failed"]:
            raise CommandError(f"Fear & Greed: nothing written: {summary['error']}")
        self.stdout.write(self.style.SUCCESS(
            f"fear_greed {summary['first']}..{summary['last']}: {summary['created']} created, "
            f"{summary['updated']} updated, {summary['unchanged']} unchanged"))
