"""The default historical stress windows (pure data; seeded into ``stress_events``)."""

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
]
