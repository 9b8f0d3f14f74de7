"""Frozen, validated engine configuration: execution costs, sizing and risk limits."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from strategies.base import STOP_UPDATE_RULES

SIZING_MODES: tuple[str, ...] = ("risk", "fixed_fraction")
SLIPPAGE_MODELS: tuple[str, ...] = ("fixed", "volume_share")
#: Binance's baseline perpetual funding rate, 0.01% per 8 hours, as a rate per hour.
BASELINE_FUNDING_PER_HOUR = 0.0001 / 8


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _known_keys(cls: type, values: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """``values`` as keyword arguments of the dataclass ``cls``; ``ValueError`` naming unknown keys."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; known keys: {sorted(known)}")
    return values


#: Upper bounds of the risk limits: a position (or the portfolio heat) of at most 10x equity, windows and
#: cool-downs of at most a million bars. Larger finite values are input mistakes (``1e308``), refused;
#: ``inf`` is the explicit "no cap" (JSON cannot carry it, so API input never does).
MAX_LEVERAGE = 10.0
MAX_BARS = 1_000_000


@dataclass(frozen=True)
class RiskLimits:
    """Portfolio risk limits. Field names match ``backtests.models.default_risk_limits()``.

    ``min_position_pct`` / ``max_position_pct``: each position's value at entry, as a fraction of equity.
    ``risk_per_trade_pct``: loss to the stop, as a fraction of equity (``sizing="risk"``).
    ``max_portfolio_heat_pct``: cap on the sum of open risk-to-stop over equity.
    ``max_drawdown_pct``: circuit breaker threshold (equity this far below its peak closes everything).
    ``drawdown_cooldown_bars``: bars without entries after the breaker trips; ``None`` halts for good.
    ``correlation_limit`` / ``correlation_window``: refuse an entry whose close-to-close return
    correlation (over the last ``correlation_window`` bars) with an open position exceeds the limit; with
    fewer than half a window of overlapping returns the check is skipped (not enough evidence).
    Position size limits and cash clamp every entry (scale-ins: the total position); a position without a
    stop counts its whole value as risk in the portfolio heat. After a cool-down the breaker measures the
    drawdown from the equity at resumption (the reported ``drawdown`` column keeps the all-time peak).
    """

    min_position_pct: float = 0.02
    max_position_pct: float = 0.05
    risk_per_trade_pct: float = 0.01
    max_portfolio_heat_pct: float = 0.10
    max_drawdown_pct: float = 0.20
    drawdown_cooldown_bars: int | None = None
    correlation_limit: float = 0.7
    correlation_window: int = 30

    def __post_init__(self) -> None:
        for name in ("min_position_pct", "max_position_pct", "risk_per_trade_pct", "max_portfolio_heat_pct",
                     "max_drawdown_pct", "correlation_limit"):
            value = getattr(self, name)
            _require(isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value),
                     f"RiskLimits.{name} must be a number, got {value!r}")
        _require(self.min_position_pct >= 0, f"min_position_pct must be >= 0, got {self.min_position_pct}")
        _require(0 < self.max_position_pct <= MAX_LEVERAGE or self.max_position_pct == math.inf,
                 f"max_position_pct must be in (0, {MAX_LEVERAGE:g}] (at most {MAX_LEVERAGE:g}x equity; inf: no cap), "
                 f"got {self.max_position_pct}")
        _require(self.min_position_pct <= self.max_position_pct,
                 f"min_position_pct ({self.min_position_pct}) must not exceed "
                 f"max_position_pct ({self.max_position_pct})")
        _require(0 < self.risk_per_trade_pct <= 1,
                 f"risk_per_trade_pct must be in (0, 1], got {self.risk_per_trade_pct}")
        _require(0 < self.max_portfolio_heat_pct <= MAX_LEVERAGE or self.max_portfolio_heat_pct == math.inf,
                 f"max_portfolio_heat_pct must be in (0, {MAX_LEVERAGE:g}], got {self.max_portfolio_heat_pct}")
        _require(0 < self.max_drawdown_pct <= 1,
                 f"max_drawdown_pct must be in (0, 1], got {self.max_drawdown_pct}")
        _require(self.drawdown_cooldown_bars is None
                 or (isinstance(self.drawdown_cooldown_bars, int) and self.drawdown_cooldown_bars >= 0),
                 f"drawdown_cooldown_bars must be None (halt) or an int >= 0, got {self.drawdown_cooldown_bars!r}")
        _require(self.drawdown_cooldown_bars is None or self.drawdown_cooldown_bars <= MAX_BARS,
                 f"drawdown_cooldown_bars must be at most {MAX_BARS}, got {self.drawdown_cooldown_bars!r}")
        _require(0 < self.correlation_limit <= 1 or self.correlation_limit == math.inf,
                 f"correlation_limit must be in (0, 1] (inf: off), got {self.correlation_limit}")
        _require(isinstance(self.correlation_window, int) and 3 <= self.correlation_window <= MAX_BARS,
                 f"correlation_window must be an int in 3..{MAX_BARS}, got {self.correlation_window!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> RiskLimits:
        """Build from a JSON dict (e.g. ``BacktestConfig.risk_limits``); unknown keys raise ``ValueError``."""
        return cls(**_known_keys(cls, values, "risk limit"))

    @classmethod
    def unlimited(cls) -> RiskLimits:
        """Limits that never bind (any position size, no heat cap, no breaker, no correlation check);
        ``risk_per_trade_pct`` keeps its default: it is a sizing rule, not a limit."""
        return cls(min_position_pct=0.0, max_position_pct=math.inf,
                   max_portfolio_heat_pct=math.inf, max_drawdown_pct=1.0, correlation_limit=math.inf)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def _rate(value: Any, name: str, upper: float = 1.0) -> None:
    _require(isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < upper,
             f"{name} must be a number in [0, {upper:g}), got {value!r}")


@dataclass(frozen=True)
class CostModel:
    """The trade-dependent costs, besides ``EngineConfig.fee_rate`` and ``slippage_rate``.

    ``maker_fee_rate``: when set, take-profits are resting limit orders: they fill at their level (or at a
    better gap open) with no slippage and pay this fee; every other fill is a taker (market or stop) order
    paying ``fee_rate`` and slippage. ``None``: every fill is a taker fill.
    ``slippage_model="fixed"``: every taker fill pays ``slippage_rate``. ``"volume_share"``: it pays
    ``slippage_rate + volume_impact * sigma * sqrt(share)``, the square-root law of market impact (Almgren et
    al. 2005; Toth et al. 2011: ``volume_impact`` is its constant Y, of order 1), where ``share`` is the
    fill's value over the quote volume of the symbol's last completed bar and ``sigma`` the standard deviation
    of its last ``volatility_window`` bar log returns (the law is the same at any bar length: sigma and
    volume scale together). A fill takes at most ``max_volume_share`` of that volume: a larger entry is cut to
    the cap, a larger exit fills the cap and the rest at the next bars' opens. Quote volume is the candles'
    ``quote_volume`` where given, else base volume x the bar's typical price (``marketdata.quote_volume``);
    an entry with no volume to measure is refused (``no_volume``).
    ``long_carry_rate_per_hour`` / ``short_carry_rate_per_hour``: funding or borrow paid per hour held on
    the position's value at each close (a negative rate is received). Defaults: longs (spot) pay nothing,
    shorts pay Binance's baseline perpetual funding, 0.01% per 8 hours.
    """

    maker_fee_rate: float | None = None
    slippage_model: str = "fixed"
    volume_impact: float = 1.0
    volatility_window: int = 30
    max_volume_share: float = 0.025
    long_carry_rate_per_hour: float = 0.0
    short_carry_rate_per_hour: float = BASELINE_FUNDING_PER_HOUR

    def __post_init__(self) -> None:
        if self.maker_fee_rate is not None:
            _require(isinstance(self.maker_fee_rate, int | float) and not isinstance(self.maker_fee_rate, bool)
                     and -0.01 <= self.maker_fee_rate < 1,
                     f"maker_fee_rate must be None or a number in [-0.01, 1) (negative: a rebate), "
                     f"got {self.maker_fee_rate!r}")
        _require(self.slippage_model in SLIPPAGE_MODELS,
                 f"slippage_model must be one of {SLIPPAGE_MODELS}, got {self.slippage_model!r}")
        _rate(self.volume_impact, "volume_impact", 10.0)
        _require(isinstance(self.volatility_window, int) and not isinstance(self.volatility_window, bool)
                 and 2 <= self.volatility_window <= MAX_BARS,
                 f"volatility_window must be an int in 2..{MAX_BARS}, got {self.volatility_window!r}")
        _require(isinstance(self.max_volume_share, int | float) and not isinstance(self.max_volume_share, bool)
                 and 0 < self.max_volume_share <= 1,
                 f"max_volume_share must be in (0, 1], got {self.max_volume_share!r}")
        for name in ("long_carry_rate_per_hour", "short_carry_rate_per_hour"):
            value = getattr(self, name)
            _require(isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 0.01,
                     f"{name} must be a number with |rate| < 0.01 (1% an hour), got {value!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> CostModel:
        """Build from a JSON dict (``BacktestConfig.cost_model``); unknown keys raise ``ValueError``."""
        return cls(**_known_keys(cls, values, "cost model"))

    @classmethod
    def frictionless_carry(cls) -> CostModel:
        """No funding or borrow: the convention of backtesting.py and vectorbt (for like-for-like comparisons)."""
        return cls(short_carry_rate_per_hour=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EngineConfig:
    """How a backtest executes. Defaults: 0.1% fee per side, 0.5% slippage, 100 ms latency, risk sizing.

    ``sizing="risk"``: quantity = ``risk_per_trade_pct * equity / |fill - stop|``, then the position value is
    clamped to ``[min_position_pct, max_position_pct] * equity`` and to the cash available.
    ``sizing="fixed_fraction"``: position value = ``fixed_fraction * equity`` (fee included), clamped the
    same way; use ``risk=RiskLimits.unlimited()`` for an all-in backtest without limits.
    ``close_at_end``: close open positions at the last close (reason ``end_of_data``), paying fees and
    slippage; when False they stay open and the final equity marks them to the last close.
    ``bar_length``: pandas Timedelta string of one bar (``"1h"``); ``None`` infers it from the candles.
    ``costs``: maker/taker fees, volume-share slippage and carry (:class:`CostModel`).
    ``stop_updates``: what a repeated signal's stop does to an open position's stop (``STOP_UPDATE_RULES``):
    ``"tighten"`` moves it only towards less risk (up for a long, down for a short), ``"never"`` keeps the
    entry's stop, ``"any"`` moves it either way. ``run_backtest`` takes it from the strategy's declared
    ``stop_updates``.
    """

    initial_capital: float = 100_000.0
    fee_rate: float = 0.001
    slippage_rate: float = 0.005
    latency_ms: int = 100
    risk: RiskLimits = field(default_factory=RiskLimits)
    sizing: str = "risk"
    fixed_fraction: float = 1.0
    allow_short: bool = False
    close_at_end: bool = True
    bar_length: str | None = None
    costs: CostModel = field(default_factory=CostModel)
    stop_updates: str = "tighten"

    def __post_init__(self) -> None:
        _require(isinstance(self.initial_capital, int | float) and math.isfinite(self.initial_capital)
                 and self.initial_capital > 0,
                 f"initial_capital must be a positive finite number, got {self.initial_capital!r}")
        _require(0 <= self.fee_rate < 1, f"fee_rate must be in [0, 1), got {self.fee_rate!r}")
        _require(0 <= self.slippage_rate < 1, f"slippage_rate must be in [0, 1), got {self.slippage_rate!r}")
        _require(isinstance(self.latency_ms, int) and self.latency_ms >= 0,
                 f"latency_ms must be an int >= 0, got {self.latency_ms!r}")
        _require(isinstance(self.risk, RiskLimits), f"risk must be a RiskLimits, got {type(self.risk).__name__}")
        _require(isinstance(self.costs, CostModel), f"costs must be a CostModel, got {type(self.costs).__name__}")
        _require(self.stop_updates in STOP_UPDATE_RULES,
                 f"stop_updates must be one of {STOP_UPDATE_RULES}, got {self.stop_updates!r}")
        _require(self.sizing in SIZING_MODES, f"sizing must be one of {SIZING_MODES}, got {self.sizing!r}")
        _require(0 < self.fixed_fraction <= 1, f"fixed_fraction must be in (0, 1], got {self.fixed_fraction!r}")
        if self.bar_length is not None:
            import pandas as pd

            _require(pd.Timedelta(self.bar_length) > pd.Timedelta(0),
                     f"bar_length must be a positive duration, got {self.bar_length!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["risk"] = self.risk.to_dict()
        data["costs"] = self.costs.to_dict()
        return data
