"""Recorded provider payloads (tests/data/fixtures/, see PROVENANCE.md there) and wire-format builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fixtures"


def load_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def btc_daily_klines() -> pd.DataFrame:
    """Real Binance BTCUSDT daily klines, 2021-01-01..2022-09-30, all 12 fields."""
    return pd.read_csv(FIXTURES / "binance" / "BTCUSDT_1d_klines.csv")


def to_wire(frame: pd.DataFrame) -> list[list]:
    """CSV kline rows -> Binance's wire format: 12-field arrays, prices and volumes as strings,
    times and trade count as integers (as in binance/api_v3_klines_1m_limit500_verbatim.json)."""
    return [
        [int(r.open_time), f"{r.open:.8f}", f"{r.high:.8f}", f"{r.low:.8f}", f"{r.close:.8f}", f"{r.volume:.8f}",
         int(r.close_time), f"{r.quote_asset_volume:.8f}", int(r.number_of_trades),
         f"{r.taker_buy_base_asset_volume:.8f}", f"{r.taker_buy_quote_asset_volume:.8f}", "0"]
        for r in frame.itertuples()
    ]


class FakeBinanceKlines:
    """A request handler answering ``/api/v3/klines`` like Binance: rows with ``startTime <= open_time
    <= endTime``, at most ``limit`` of them, from the real daily klines."""

    def __init__(self, klines: pd.DataFrame, used_weight_header: int | None = None) -> None:
        self.klines = klines
        self.used_weight_header = used_weight_header
        self.requests: list[dict[str, str]] = []

    def __call__(self, request):
        from werkzeug import Response

        args = request.args
        self.requests.append(dict(args))
        rows = self.klines[(self.klines.open_time >= int(args["startTime"]))
                           & (self.klines.open_time <= int(args.get("endTime", 2**62)))]
        rows = rows.head(int(args.get("limit", 500)))
        headers = {}
        if self.used_weight_header is not None:
            headers["X-MBX-USED-WEIGHT-1M"] = str(self.used_weight_header)
        return Response(json.dumps(to_wire(rows)), status=200, headers=headers, content_type="application/json")
