"""Benchmark of the Binance klines client: parsing + cleaning one 1000-candle page, and a paginated
download of ``--candles`` 1m candles from a local HTTP server (real BTCUSDT daily prices re-timed as 1m
bars, served in Binance's wire format). Network latency and rate-limit waits are excluded: this measures
the client's own cost per candle.

Run: ``python benchmarks/sources_bench.py [--candles 100000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketdata.sources.base import clean_page  # noqa: E402
from marketdata.sources.binance import BinanceSource, parse_klines  # noqa: E402

CSV = ROOT / "tests" / "data" / "fixtures" / "binance" / "BTCUSDT_1d_klines.csv"
T0 = pd.Timestamp("2022-01-01", tz="UTC")


def wire_rows(count: int) -> list[list]:
    daily = pd.read_csv(CSV)
    reps = -(-count // len(daily))
    frame = pd.concat([daily] * reps, ignore_index=True).head(count)
    start_ms = int(T0.value // 1_000_000)
    return [
        [start_ms + i * 60_000, f"{r.open:.8f}", f"{r.high:.8f}", f"{r.low:.8f}", f"{r.close:.8f}",
         f"{r.volume:.8f}", start_ms + i * 60_000 + 59_999, f"{r.quote_asset_volume:.8f}",
         int(r.number_of_trades), "0", "0", "0"]
        for i, r in enumerate(frame.itertuples())
    ]


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candles", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = wire_rows(args.candles)
    page = rows[:1000]
    later = T0 + pd.Timedelta(days=3650)

    def parse_one_page():
        clean_page(parse_klines(page), start=T0, end=later, candle_length=pd.Timedelta(minutes=1), now=later)

    median, best = timed(parse_one_page, args.repeats * 10)
    print(f"parse+clean one 1000-candle page: median {median * 1000:.2f} ms, best {best * 1000:.2f} ms")

    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    by_ms = {row[0]: i for i, row in enumerate(rows)}

    def handler(request):
        first = by_ms.get(int(request.args["startTime"]), len(rows))
        body = rows[first:first + int(request.args["limit"])]
        return Response(json.dumps(body), content_type="application/json")

    server = HTTPServer()
    server.expect_request("/api/v3/klines").respond_with_handler(handler)
    server.start()
    try:
        client = BinanceSource(server.url_for(""), sleep=lambda s: None, now=lambda: later)
        end = T0 + pd.Timedelta(minutes=args.candles)

        def download():
            assert sum(len(p) for p in client.fetch_ohlcv("BTCUSDT", "1m", T0, end)) == args.candles

        median, best = timed(download, args.repeats)
    finally:
        server.clear()
        server.stop()
    print(f"download {args.candles} candles ({-(-args.candles // 1000)} pages) from a local server: "
          f"median {median:.2f} s ({args.candles / median:,.0f} candles/s), best {best:.2f} s")


if __name__ == "__main__":
    main()
