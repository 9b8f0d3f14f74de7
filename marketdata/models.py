"""Market data tables: candles, cached indicators, on-chain and social metrics.

Constraints live in the database: a bad row is an ``IntegrityError`` whichever path wrote it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from marketdata.timeframes import TIMEFRAME_CHOICES


class Source(models.TextChoices):
    BINANCE = "binance", "Binance"
    COINGECKO = "coingecko", "CoinGecko"
    BINANCE_CSV = "binance_csv", "Binance CSV dump"
    BUNDLED = "bundled", "Bundled sample"
    DEFILLAMA = "defillama", "DefiLlama"
    LUNARCRUSH = "lunarcrush", "LunarCrush"
    MANUAL = "manual", "Manual"
    RESAMPLED = "resampled", "Resampled from shorter candles"
    BUNDLED_COINGECKO = "bundled_coingecko", "Bundled sample (CoinGecko)"
    TOKEN_TERMINAL = "tokenterminal", "Token Terminal"
    AAVE_SUBGRAPH = "aave_subgraph", "Aave subgraph"
    ALTERNATIVE_ME = "alternative_me", "alternative.me"


class Candle(models.Model):
    """One OHLCV candle; ``open_time`` is the UTC start of the bar."""

    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    open_time = models.DateTimeField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField()
    quote_volume = models.FloatField(null=True, blank=True)
    quote_volume_derived = models.BooleanField(
        default=False, help_text="True when quote volume was computed as volume x typical price."
    )
    trade_count = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta:
        db_table = "market_data_ohlcv"
        ordering = ["symbol", "timeframe", "open_time"]
        constraints = [
            # Its index serves "one symbol and timeframe over a date range" too.
            models.UniqueConstraint(fields=["symbol", "timeframe", "open_time"], name="ohlcv_unique_bar"),
            models.CheckConstraint(condition=Q(low__gt=0), name="ohlcv_low_positive"),
            models.CheckConstraint(condition=Q(high__gte=F("low")), name="ohlcv_high_gte_low"),
            models.CheckConstraint(
                condition=Q(open__gte=F("low"), open__lte=F("high")), name="ohlcv_open_within_range"
            ),
            models.CheckConstraint(
                condition=Q(close__gte=F("low"), close__lte=F("high")), name="ohlcv_close_within_range"
            ),
            models.CheckConstraint(condition=Q(volume__gte=0), name="ohlcv_volume_non_negative"),
            models.CheckConstraint(
                condition=Q(quote_volume__isnull=True) | Q(quote_volume__gte=0),
                name="ohlcv_quote_volume_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(trade_count__isnull=True) | Q(trade_count__gte=0),
                name="ohlcv_trade_count_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["timeframe", "open_time"], name="ohlcv_tf_time_idx")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class IndicatorValue(models.Model):
    """One output of one indicator at one bar (tall format: MACD stores macd, signal, hist rows).

    ``params`` is the canonical parameter string, for example ``fast=12,signal=9,slow=26``.
    Warm-up bars are not stored: a missing row means "not defined yet", never a made-up value.
    """

    symbol = models.CharField(max_length=20)
    timeframe = models.CharField(max_length=3, choices=TIMEFRAME_CHOICES)
    open_time = models.DateTimeField()
    indicator = models.CharField(max_length=32)
    params = models.CharField(max_length=128, blank=True)
    output = models.CharField(max_length=32, default="value")
    value = models.FloatField()
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "technical_indicators"
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "timeframe", "indicator", "params", "output", "open_time"],
                name="indicator_unique_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator}({self.params}).{self.output} {self.symbol} {self.timeframe} {self.open_time}"


#: The daily fundamentals a row of ``OnchainMetric`` may carry (one fact: the strategies, loaders and
#: disclosure read this tuple). Money amounts in USD; rates as fractions per year (0.05 = 5%).
ONCHAIN_FIELDS: tuple[str, ...] = ("tvl", "volume", "fees", "revenue", "supply", "borrowed", "market_cap",
                                   "supply_apy", "borrow_apy")


class OnchainMetric(models.Model):
    """Daily fundamentals of a protocol, chain or stablecoin; the value for ``date`` describes that whole
    UTC day. ``source`` is the vendor the figure came from (vendors' methodologies differ, so rows of two
    vendors for one day are kept side by side)."""

    protocol = models.CharField(max_length=64)
    date = models.DateField()
    tvl = models.FloatField(null=True, blank=True)
    volume = models.FloatField(null=True, blank=True)
    fees = models.FloatField(null=True, blank=True)
    revenue = models.FloatField(null=True, blank=True)
    supply = models.FloatField(null=True, blank=True, help_text="Circulating supply (stablecoins).")
    borrowed = models.FloatField(null=True, blank=True, help_text="Outstanding borrows, USD (lending).")
    market_cap = models.FloatField(null=True, blank=True, help_text="Circulating market cap of the token, USD.")
    supply_apy = models.FloatField(null=True, blank=True,
                                   help_text="Lenders' yield as a fraction per year (daily mean).")
    borrow_apy = models.FloatField(null=True, blank=True,
                                   help_text="Borrowers' variable rate as a fraction per year (daily mean).")
    source = models.CharField(max_length=20, choices=Source.choices)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "onchain_metrics"
        ordering = ["protocol", "date"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "date", "source"], name="onchain_unique_day"),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0}),
                    name=f"onchain_{field}_non_negative",
                )
                for field in ONCHAIN_FIELDS
                if field != "revenue"  # revenue (fees minus what is paid out) can be negative
            ],
        ]

    def __str__(self) -> str:
        return f"{self.protocol} {self.date} ({self.source})"


class SentimentIndex(models.Model):
    """A market-wide daily sentiment reading, such as the Crypto Fear & Greed index (0 = extreme fear,
    100 = extreme greed); the value for ``date`` is that UTC day's reading."""

    index = models.CharField(max_length=32, help_text="Which index, e.g. fear_greed.")
    date = models.DateField()
    value = models.FloatField()
    classification = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "sentiment_index"
        ordering = ["index", "date"]
        constraints = [
            models.UniqueConstraint(fields=["index", "date", "source"], name="sentiment_unique_day"),
            models.CheckConstraint(condition=Q(value__gte=0, value__lte=100), name="sentiment_value_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.index} {self.date} = {self.value:g} ({self.source})"


class SocialMetric(models.Model):
    token = models.CharField(max_length=20)
    timestamp = models.DateTimeField()
    sentiment = models.FloatField(null=True, blank=True, help_text="0-100 (share of positive posts).")
    social_volume = models.FloatField(null=True, blank=True)
    mentions = models.FloatField(null=True, blank=True)
    galaxy_score = models.FloatField(null=True, blank=True)
    alt_rank = models.IntegerField(null=True, blank=True)
    social_dominance = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "social_metrics"
        ordering = ["token", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["token", "timestamp", "source"], name="social_unique_point"),
            models.CheckConstraint(
                condition=Q(sentiment__isnull=True) | Q(sentiment__gte=0, sentiment__lte=100),
                name="social_sentiment_0_100",
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0}),
                    name=f"social_{field}_non_negative",
                )
                for field in ("social_volume", "mentions", "galaxy_score")
            ],
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.timestamp} ({self.source})"
