"""How fast does a backtest's admin page load at 10,000 metric snapshots, and how big is it?

Builds a throw-away SQLite database, loads the bundled BTC 1h candles, stores a run of 10,000 hourly snapshots
and 300 trade legs, and times the page (median of 5 GETs after one warm-up) beside the reference measured in
the same run: the same page with every snapshot inlined as a table (the old console), rendered by Django's
template engine from the same rows.

    .venv/bin/python benchmarks/admin_run_page.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS, LEGS = 10_000, 300


def main() -> None:
    folder = tempfile.mkdtemp(prefix="admin-page-bench-")
    os.environ.update(DATABASE_URL=f"sqlite:///{folder}/bench.db", DJANGO_DEBUG="0",
                      DJANGO_SECRET_KEY="benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
                      DJANGO_ALLOWED_HOSTS="testserver", DJANGO_SECURE_SSL_REDIRECT="0",
                      DJANGO_SETTINGS_MODULE="config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.template import Context, Template
    from django.test import Client

    from backtests.models import BacktestConfig, BacktestMetric, BacktestTrade
    from marketdata.sample import sample_load

    call_command("migrate", verbosity=0)
    sample_load(symbols=["BTC"], timeframes=["1h"])
    start = pd.Timestamp("2022-01-01", tz="UTC")
    config = BacktestConfig.objects.create(strategy="sma_crossover", symbols=["BTC"], timeframe="1h",
                                           start=start, end=start + pd.Timedelta(hours=SNAPSHOTS),
                                           parameters={"fast": 20, "slow": 50, "stop_pct": 0.05}, status="succeeded")
    BacktestMetric.objects.bulk_create(
        [BacktestMetric(config=config, timestamp=start + pd.Timedelta(hours=i), equity=100_000 + i % 500,
                        cash=100_000, drawdown=0.01 * (i % 7)) for i in range(SNAPSHOTS)], batch_size=2000)
    BacktestTrade.objects.bulk_create(
        [BacktestTrade(config=config, symbol="BTC", side="long", entry_time=start + pd.Timedelta(hours=30 * i),
                       exit_time=start + pd.Timedelta(hours=30 * i + 10), entry_price=40_000, exit_price=40_400,
                       quantity=0.1, fees=1, slippage_cost=1, pnl=38, return_pct=0.0095, exit_reason="signal")
         for i in range(LEGS)])
    user = get_user_model().objects.create_superuser("bench", "b@example.com", "x")
    client = Client()
    client.force_login(user)
    url = f"/admin/backtests/backtestconfig/{config.pk}/change/"

    def timed(fetch) -> tuple[float, int]:
        fetch()  # warm-up (template and numba caches)
        seconds, size = [], 0
        for _ in range(5):
            began = time.perf_counter()
            size = len(fetch())
            seconds.append(time.perf_counter() - began)
        return statistics.median(seconds), size

    response = client.get(url)
    assert response.status_code == 200, (response.status_code, response.content[:300])
    page_s, page_bytes = timed(lambda: client.get(url).content)
    rows = list(config.metrics.order_by("timestamp").values_list("timestamp", "equity", "cash", "drawdown"))
    inline = Template("<table>{% for r in rows %}<tr>{% for v in r %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}"
                      "</table>")
    inline_s, inline_bytes = timed(lambda: (client.get(url).content.decode()
                                            + inline.render(Context({"rows": rows}))).encode())
    print(f"run page at {SNAPSHOTS:,} snapshots and {LEGS} legs: {page_s * 1000:.0f} ms, {page_bytes / 1e6:.2f} MB")
    print(f"reference, the same page with every snapshot inlined: {inline_s * 1000:.0f} ms, "
          f"{inline_bytes / 1e6:.2f} MB")
    print("(plotly.js is a separate, cached request of "
          f"{len(client.get('/admin/backtests/backtestconfig/plotly.min.js').content) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
