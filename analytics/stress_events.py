"""The default historical stress windows (pure data; seeded into ``stress_events``) and the scenarios replayed on
some of them.

``warmup_days`` is the run-in: the strategy trades from that many days before the window (its indicators
warmed up before that), so it meets the window as it would have, possibly holding a position; the window's
figures start from its equity on the last bar before the window.
"""

DEFAULT_STRESS_EVENTS: list[dict] = [
    {
        "slug": "covid-2020",
        "name": "COVID crash (March 2020)",
        "start": "2020-03-05T00:00:00Z",
        "end": "2020-03-20T00:00:00Z",
        "warmup_days": 30,
        "description": "BTC fell about 50% in two days (12-13 March 2020) as markets priced the pandemic.",
    },
    {
        "slug": "luna-2022",
        "name": "Terra/LUNA collapse (May 2022)",
        "start": "2022-05-05T00:00:00Z",
        "end": "2022-05-20T00:00:00Z",
        "warmup_days": 30,
        "description": "UST lost its peg and LUNA went to zero; contagion across DeFi tokens.",
    },
    {
        "slug": "ftx-2022",
        "name": "FTX collapse (November 2022)",
        "start": "2022-11-05T00:00:00Z",
        "end": "2022-11-20T00:00:00Z",
        "warmup_days": 30,
        "description": "FTX halted withdrawals and filed for bankruptcy; FTT collapsed.",
    },
    {
        "slug": "svb-2023",
        "name": "Silicon Valley Bank and the USDC depeg (March 2023)",
        "start": "2023-03-08T00:00:00Z",
        "end": "2023-03-20T00:00:00Z",
        "warmup_days": 30,
        "description": "Circle held reserves at SVB; USDC traded as low as 0.88 on 11 March 2023.",
    },
    {
        "slug": "yen-carry-2024",
        "name": "Yen carry-trade unwind (August 2024)",
        "start": "2024-08-02T00:00:00Z",
        "end": "2024-08-12T00:00:00Z",
        "warmup_days": 6,
        "description": "The Bank of Japan raised rates on 31 July 2024 and the yen carry trade unwound: the Nikkei "
                       "fell 12% on 5 August, BTC from 65,000 (1 August) to 49,000 (5 August) before recovering to "
                       "61,000 by 8 August.",
    },
]

#: The hours without fills of the outage scenario, unless the caller says otherwise.
DEFAULT_OUTAGE_HOURS = 8

#: Scenarios replayed on a default window besides the plain replay (``kind``: ``outage`` or ``quote_depeg``).
#: The outage starts when the 2024-08-05 crash did (BTC opened the day at 58,161 and traded at 52,700 eight
#: hours later): every candle of those hours is absent, so exits wait and stops gap at the reopening open.
#: The quote-coin depeg applies the real USDC/USD path of the SVB depeg (bundled 15m candles, low 0.88) to the
#: quote coin the strategies trade against (USDT) as a shape, on its real dates.
STRESS_SCENARIOS: list[dict] = [
    {
        "slug": "yen-carry-2024-outage",
        "event": "yen-carry-2024",
        "kind": "outage",
        "name": "Yen carry-trade unwind with an exchange outage",
        "outage_start": "2024-08-05T00:00:00Z",
        "outage_hours": DEFAULT_OUTAGE_HOURS,
    },
    {
        "slug": "svb-2023-quote-depeg",
        "event": "svb-2023",
        "kind": "quote_depeg",
        "name": "SVB with the quote coin depegging like USDC",
        "quote_symbol": "USDC",
        "quote_timeframe": "15m",
        "quote_path": "the USDC/USD 15m path of 9-18 March 2023",
    },
]

