"""The strategy contract: what a strategy declares and what it must return to the engine.

A strategy is a subclass of :class:`BaseStrategy`. It is a *pure signal generator*: it looks at
market data and says, for every bar of every symbol it trades, whether it wants to enter, exit,
scale in, and where its stop and take-profit are. The engine (``backtests.engine.run``) walks the
bars and does everything else: fills, fees, slippage, position sizing, portfolio risk limits,
circuit breaker, P&L. A strategy never sizes positions and never sees fills.

Class attributes (declare them on the subclass)
-----------------------------------------------
``name``             registry key, snake_case, unique (``"sma_crossover"``).
``label``            human-readable name (``"SMA 20/50 crossover"``).
``universe``         tuple of platform symbols it trades (``("BTC", "ETH")``; see ``marketdata.symbols``).
                     The caller loads candles for exactly these symbols (a symbol with no data is
                     simply absent from ``MarketData.candles``: handle that, and add a note).
``timeframe``        candle timeframe code (``"1h"``; see ``marketdata.timeframes``).
``parameters``       ``dict[str, Param]``: every tunable parameter with its default and search range.
``warmup_bars``      bars needed before the first valid signal (the caller loads this much extra history;
                     signals inside the warm-up must be ``entry=False``).
``needs_onchain``    True if ``generate_signals`` reads ``MarketData.onchain``.
``needs_social``     True if it reads ``MarketData.social``.
``needs_sentiment``  True if it reads ``MarketData.sentiment`` (the market-wide Fear & Greed index).
``inputs``           tuple of :class:`DataInput`: every non-price input the rules read, what it is for and
                     what the strategy does on a bar where it is missing (its *fallback*). The platform
                     reports, per symbol and input, the share of bars on which the input was present and
                     on which the rule that uses it (not the fallback) decided; a strategy that ran mostly
                     on the fallback of its *primary* inputs is flagged and cannot be picked for paper
                     trading. For each input the signal frame may carry a bool column ``uses_<name>``
                     (True on bars where the input's rule decided); without it, "present" is used.
``predicted_win_rate`` the share of positions the strategy is expected to win (its Phase 0 prediction, declared
                     before it is judged; a fraction). The scorecard checks the holdout win rate within 5
                     points of it; ``None`` (undeclared) fails that criterion.
``regime_symbols``   symbols whose candles are passed in ``MarketData.regime`` for regime filters
                     (default ``("BTC", "ETH")``; use ``()`` if none are needed).

Construction
------------
``Strategy(**params)``: any parameter not given takes its ``Param.default``; an unknown name or a value
outside ``[low, high]`` / not in ``choices`` raises ``ValueError`` naming the parameter and its range.
The validated values are in ``self.params`` (a plain dict, JSON-safe). Subclasses that need extra
validation (e.g. ``fast < slow``) override :meth:`validate_params` and call ``super()``.

``required_indicators()``
-------------------------
Returns ``list[tuple[str, dict]]``: indicator names and their parameters in the vocabulary of
``marketdata.indicators`` (``resolve_params`` must accept them), e.g.
``[("ema", {"window": 20}), ("atr", {"window": 14})]``, built from ``self.params``. It is an
*export* declaration: ``manage.py compute_indicators`` and the indicator cache use it to precompute
the same values for charts and other consumers. Strategies compute their indicators themselves
inside ``generate_signals`` from ``data.candles`` (with ``marketdata.indicators``), which keeps them
self-contained and look-ahead safe; the backtest never reads the cache.

Optional hooks (declared here with their default)
-------------------------------------------------
``yield_accrual(data, signals)``  a per-bar yield rate (``pd.Series`` on the candle index) earned by the
                          positions the strategy holds that the engine's price P&L does not pay (a
                          stablecoin's lending APY); ``None`` (the default) means "no such yield".

Versioning
----------
``INTERFACE_VERSION`` states the contract version a strategy was written for. The registry refuses a
strategy whose declared version differs from :data:`INTERFACE_VERSION` of this module.

``generate_signals(data: MarketData) -> dict[str, pd.DataFrame]``  (the core)
--------------------------------------------------------------------------------
Return one DataFrame per traded symbol, **indexed exactly like that symbol's candle frame**
(``data.candles[symbol].index``), with these columns (use :meth:`empty_signals` to start one):

``entry``                 bool.  True at bar t = "open a position"; the engine fills it at the next
                          bar's open (see *Timing*). Ignored while a position (or a pending entry) exists
                          for the symbol.
``exit``                  bool.  True at bar t = "close the whole position" at the next bar's open.
                          ``exit`` wins over ``entry``/``scale_in`` on the same bar.
``stop``                  float price or NaN. At an entry bar: the initial stop (REQUIRED when the
                          engine sizes by risk, ``EngineConfig.sizing == "risk"``; an entry without a stop
                          is refused with reason ``missing_stop``). While a position is open: a non-NaN
                          value moves the active stop from the next bar on as the class's
                          ``stop_updates`` rule allows: by default (``"tighten"``) only towards less risk,
                          so a trailing stop follows the price and a repeated entry signal in a falling
                          market cannot lower a long's stop below the level it was sized for
                          (``"never"``: the entry's stop stays; ``"any"``: either way, declared on
                          purpose). Refused moves are counted in the run's
                          ``execution.stop_moves_refused``. For longs the stop
                          must be below the fill bar's open, for shorts above it, otherwise the entry
                          is refused (``stop_beyond_price``).
``take_profit``           float price or NaN. At an entry bar: the initial target. While open: a non-NaN
                          value different from the current target sets (and re-arms) a new target.
                          A target fires once, then stays disarmed until a new value is given.
``take_profit_fraction``  float in (0, 1]: share of the *current* position closed when the target is
                          hit (0.5 = "half at the first target"; 1.0 = close all). Read together with
                          ``take_profit``; NaN/missing means 1.0.
``scale_in``              optional bool. True while a position is open = add to it at the next open,
                          sized like an entry using the active stop, within the max position size.
``direction``             optional int: +1 long (default), -1 short. Shorts need
                          ``EngineConfig.allow_short=True`` (otherwise refused, ``short_not_allowed``).

Missing optional columns take their defaults. NaN in ``entry``/``exit``/``scale_in`` means False.
Symbols not in the returned dict are not traded.

Timing and look-ahead (the rule every strategy must obey)
---------------------------------------------------------
A signal at bar t may use data **up to and including bar t's close only** (candles, indicators,
on-chain and social rows whose timestamp is <= t). Prefer vectorised rules (pandas rolling/shift);
never use ``shift(-1)``, centred windows, full-sample statistics (mean/std of the whole series),
``bfill`` or anything fitted on the whole frame. The engine test-suite checks that a run on data cut
at time T makes the same decisions up to T as the full run; strategies should have the same test.

The engine fills a signal formed at the close of bar t at the first price available after
``close + latency``; for bar data that is the open of bar t+1 (generally the open of the bar
containing ``close + latency``). Stops and targets are checked intrabar from the fill bar on and
fill at their price, or at the open when the bar gaps through them. Full rules: ``run.EXECUTION_RULES``.

Notes
-----
``data.vendors`` (symbol -> input column -> vendor names) says where each fundamental came from.
``data.notes`` is a list: append short human-readable strings explaining data-driven choices,
e.g. ``"no on-chain data for SNX 2021-04..2021-06: price-only rule"``. They end up in the run summary.

Example
-------
>>> class MyStrategy(BaseStrategy):
...     name = "my_strategy"
...     label = "My strategy"
...     universe = ("BTC",)
...     parameters = {"period": Param(20, 5, 100, step=5)}
...     warmup_bars = 100
...     def generate_signals(self, data):
...         out = {}
...         for symbol in self.universe:
...             candles = data.candles.get(symbol)
...             if candles is None:
...                 data.notes.append(f"{symbol}: no candles, not traded")
...                 continue
...             close = candles["close"]
...             sma = close.rolling(self.params["period"]).mean()
...             frame = self.empty_signals(candles.index)
...             frame["entry"] = (close > sma) & (close.shift(1) <= sma.shift(1))
...             frame["exit"] = (close < sma) & (close.shift(1) >= sma.shift(1))
...             frame["stop"] = close * 0.95
...             out[symbol] = frame
...         return out
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

SIGNAL_COLUMNS: tuple[str, ...] = ("entry", "exit", "stop", "take_profit", "take_profit_fraction")
OPTIONAL_SIGNAL_COLUMNS: tuple[str, ...] = ("scale_in", "direction")
PARAM_KINDS: tuple[str, ...] = ("int", "float", "bool", "choice")

#: The contract version; bump it when a change would break existing strategies.
INTERFACE_VERSION = 1
#: What a repeated signal's ``stop`` may do to an open position's stop (``BaseStrategy.stop_updates``):
#: ``"tighten"`` only towards less risk (up for a long, down for a short), ``"never"`` (the entry's stop
#: stays), ``"any"`` (either way: the strategy accepts that a move may raise the position's risk).
STOP_UPDATE_RULES: tuple[str, ...] = ("tighten", "never", "any")


@dataclass(frozen=True)
class DataInput:
    """One non-price input a strategy reads (see ``inputs`` in the module docstring).

    ``table`` is the ``MarketData`` attribute holding it (``"onchain"``, ``"sentiment"`` or ``"social"``);
    ``columns`` the columns that can supply it, in order of preference; ``fallback`` says in words what the
    strategy does where none is present. A ``primary`` input is the strategy's thesis (TVL growth for a
    layer-2 strategy); a secondary one only refines it (a sentiment regime filter).
    """

    name: str
    table: str
    columns: tuple[str, ...]
    purpose: str
    fallback: str
    primary: bool = True

    def __post_init__(self) -> None:
        if self.table not in ("onchain", "sentiment", "social"):
            raise ValueError(f"DataInput {self.name!r}: table must be onchain, sentiment or social")

    @property
    def rule_column(self) -> str:
        """The optional signal-frame column that marks the bars where this input's rule decided."""
        return f"uses_{self.name}"


@dataclass(frozen=True)
class Param:
    """One tunable strategy parameter: its default and the range searched by optimisers.

    ``kind`` is ``"int"``, ``"float"``, ``"bool"`` or ``"choice"`` (then ``choices`` lists the values).
    ``grid()`` enumerates the search values: ``low..high`` by ``step`` for numbers (``step`` defaults
    to 1 for ints and to a 5-point grid for floats), ``(False, True)`` for bools, ``choices`` otherwise.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    kind: str = "int"
    choices: tuple | None = None

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"Param kind must be one of {PARAM_KINDS}, got {self.kind!r}")
        if self.kind == "choice":
            if not self.choices:
                raise ValueError("Param(kind='choice') needs a non-empty choices tuple")
            object.__setattr__(self, "choices", tuple(self.choices))
        elif self.kind in ("int", "float"):
            if self.low is None or self.high is None or self.low > self.high:
                raise ValueError(f"numeric Param needs low <= high, got low={self.low}, high={self.high}")
            if self.step is not None and self.step <= 0:
                raise ValueError(f"Param step must be positive, got {self.step}")
        self.validate("default", self.default)

    @property
    def _choices(self) -> tuple:
        assert self.choices is not None  # set for kind "choice" (checked in __post_init__)
        return self.choices

    @property
    def _bounds(self) -> tuple[float, float]:
        assert self.low is not None and self.high is not None  # set for numbers (checked in __post_init__)
        return self.low, self.high

    def describe_range(self) -> str:
        if self.kind == "choice":
            return f"one of {list(self._choices)}"
        if self.kind == "bool":
            return "True or False"
        return f"{self.kind} in [{self.low}, {self.high}]"

    def validate(self, name: str, value: Any) -> Any:
        """Return ``value`` coerced to the parameter's kind; ``ValueError`` naming ``name`` otherwise."""
        bad = ValueError(f"parameter {name!r}={value!r} is invalid: expected {self.describe_range()}")
        if self.kind == "choice":
            if value not in self._choices:
                raise bad
            return value
        if self.kind == "bool":
            if not isinstance(value, bool | np.bool_):
                raise bad
            return bool(value)
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise bad
        if self.kind == "int":
            if float(value) != int(value):
                raise bad
            value = int(value)
        else:
            value = float(value)
            if math.isnan(value):
                raise bad
        low, high = self._bounds
        if not low <= value <= high:
            raise bad
        return value

    def grid(self) -> list:
        """The values an exhaustive search would try, ascending for numbers."""
        if self.kind == "choice":
            return list(self._choices)
        if self.kind == "bool":
            return [False, True]
        low, high = self._bounds
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(low), int(high) + 1, step))
        if self.step is None:
            return [float(v) for v in np.linspace(low, high, 5)]
        count = math.floor((high - low) / self.step + 1e-9) + 1
        return [round(low + i * self.step, 12) for i in range(count)]


_T = TypeVar("_T")


@dataclass(frozen=True)
class MarketData:
    """Everything a strategy may read. All frames have a UTC ``DatetimeIndex`` (candle open times).

    ``candles``  symbol -> OHLCV frame (columns open, high, low, close, volume [, quote_volume]).
    ``onchain``  symbol -> on-chain metrics, already point-in-time aligned to the candle index by the
                 caller (a value at bar t was published at or before t's close).
    ``social``   symbol -> social metrics, aligned the same way.
    ``sentiment`` symbol -> the market-wide sentiment index (column ``fear_greed``, 0-100) on that symbol's
                 bars, aligned the same way.
    ``regime``   symbol -> candles of the regime symbols (BTC/ETH) for market-regime filters.
    ``vendors``  symbol -> column -> the vendor(s) the values came from (for disclosure).
    ``notes``    strategy-appended explanations; copied into the run summary.
    """

    candles: dict[str, pd.DataFrame]
    onchain: dict[str, pd.DataFrame] = field(default_factory=dict)
    social: dict[str, pd.DataFrame] = field(default_factory=dict)
    regime: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sentiment: dict[str, pd.DataFrame] = field(default_factory=dict)
    vendors: dict[str, dict[str, str]] = field(default_factory=dict)
    #: symbol -> finer candles than ``candles`` (e.g. 1m under 1h), read by the engine only, to order a stop
    #: and a target reached in the same bar (``backtests.engine.intrabar``); strategies never read it.
    detail: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Values derived from these frames (see :meth:`memo`). Not an ``__init__`` field, so ``dataclasses.replace``
    #: and every copy start with an empty one: a value computed on other frames is never reused.
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    #: Values derived from everything but the candles' prices (see :meth:`memo_context`); empty in a copy too.
    _context: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memo(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, computed once per ``key`` on this data and then shared.

        For values derived from these frames only (an indicator of a symbol's closes, an on-chain series
        aligned to its bars): the trials of an optimisation evaluate on the same window, so what a parameter
        does not change is computed by the first trial and reused by the rest. The key must name everything
        the value depends on (function, symbol, arguments); the value is shared, so never modify it in
        place. Notes that ``compute`` adds are recorded with the value and added again on every later use,
        so each evaluation's notes are its own.
        """
        return self._memoised(self._memo, key, compute)

    def memo_context(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """:meth:`memo` for a value that reads no candle price: on-chain, social, sentiment and regime frames and
        the candles' *index* only (a fundamental aligned to a symbol's bars, the regime flag on them). Copies
        whose candles differ only in their prices (the bar permutations of a signal test) share these
        (:meth:`share_context`) and recompute only what the prices change."""
        return self._memoised(self._context, key, compute)

    def _memoised(self, store: dict, key: Hashable, compute: Callable[[], _T]) -> _T:
        hit = store.get(key)
        if hit is None:
            saved = list(self.notes)
            self.notes.clear()
            try:
                value = compute()
            finally:
                added = tuple(self.notes)
                self.notes[:] = saved
            hit = store[key] = (value, added)
        for note in hit[1]:
            if note not in self.notes:
                self.notes.append(note)
        return hit[0]

    def share_memo(self, other: MarketData) -> None:
        """Use ``other``'s memos: only for a copy holding exactly ``other``'s frames (a window cut the same way)."""
        object.__setattr__(self, "_memo", other._memo)
        object.__setattr__(self, "_context", other._context)

    def share_context(self, other: MarketData | dict) -> None:
        """Use ``other``'s :meth:`memo_context` values (or this dict of them): only for data that differs from
        ``other``'s in the candles' prices, nothing else (the same symbols, bars and other frames)."""
        if isinstance(other, MarketData):
            mismatched = [s for s in self.candles if s not in other.candles
                          or not self.candles[s].index.equals(other.candles[s].index)]
            if mismatched or set(other.candles) - set(self.candles):
                raise ValueError(f"share_context: the candles' bars differ ({', '.join(mismatched) or 'symbols'})")
            other = other._context
        object.__setattr__(self, "_context", other)

    def cut(self, end: pd.Timestamp) -> MarketData:
        """A copy holding only rows with timestamp <= ``end`` (used by look-ahead tests)."""

        def _cut(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
            return {key: frame.loc[frame.index <= end] for key, frame in frames.items()}

        return MarketData(
            candles=_cut(self.candles),
            onchain=_cut(self.onchain),
            social=_cut(self.social),
            regime=_cut(self.regime),
            notes=[],
            sentiment=_cut(self.sentiment),
            vendors=self.vendors,
            detail=_cut(self.detail),
        )

    def without(self, table: str, symbols: tuple[str, ...] | None = None) -> MarketData:
        """A copy with ``table`` (``"onchain"``, ``"sentiment"`` or ``"social"``) emptied, for all symbols
        or only ``symbols``: the data a strategy would see if that input did not exist."""
        frames = {key: frame for key, frame in getattr(self, table).items()
                  if symbols is not None and key not in symbols}
        return replace(self, **{table: frames}, notes=[])


class BaseStrategy(abc.ABC):
    """Base class of every strategy; see the module docstring for the full contract."""

    interface_version: ClassVar[int] = INTERFACE_VERSION
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    universe: ClassVar[tuple[str, ...]] = ()
    timeframe: ClassVar[str] = "1h"
    parameters: ClassVar[dict[str, Param]] = {}
    warmup_bars: ClassVar[int] = 0
    needs_onchain: ClassVar[bool] = False
    needs_social: ClassVar[bool] = False
    needs_sentiment: ClassVar[bool] = False
    inputs: ClassVar[tuple[DataInput, ...]] = ()
    predicted_win_rate: ClassVar[float | None] = None
    regime_symbols: ClassVar[tuple[str, ...]] = ("BTC", "ETH")
    #: May a later signal's ``stop`` move an open position's stop, and which way (:data:`STOP_UPDATE_RULES`).
    stop_updates: ClassVar[str] = "tighten"

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: unknown parameter(s) {unknown}; known: {sorted(self.parameters)}"
            )
        values = {name: spec.default for name, spec in self.parameters.items()}
        values.update(params)
        self.params: dict[str, Any] = {
            name: self.parameters[name].validate(name, value) for name, value in values.items()
        }
        self.validate_params()

    def validate_params(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Cross-parameter checks (override; raise ``ValueError`` with a clear message)."""

    @classmethod
    def parameter_grid(cls) -> list[dict[str, Any]]:
        """Cartesian product of every parameter's ``grid()`` (may be large: optimisers may sample it)."""
        names = list(cls.parameters)
        grids = [cls.parameters[name].grid() for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]

    def required_indicators(self) -> list[tuple[str, dict]]:
        """Declared indicators ``[(name, params), ...]`` (for caching/inspection). Default: none."""
        return []

    @abc.abstractmethod
    def generate_signals(self, data: MarketData) -> dict[str, pd.DataFrame]:
        """One signal frame per traded symbol (see the module docstring)."""

    def yield_accrual(self, data: MarketData, signals: dict[str, pd.DataFrame]) -> pd.Series | None:
        """Optional hook: the per-bar yield of the held position that the engine does not pay; None = none."""
        return None

    @staticmethod
    def empty_signals(index: pd.Index) -> pd.DataFrame:
        """A signal frame on ``index`` with no entries/exits and no stop/target levels."""
        return pd.DataFrame(
            {
                "entry": np.zeros(len(index), dtype=bool),
                "exit": np.zeros(len(index), dtype=bool),
                "stop": np.full(len(index), np.nan),
                "take_profit": np.full(len(index), np.nan),
                "take_profit_fraction": np.ones(len(index)),
                "scale_in": np.zeros(len(index), dtype=bool),
                "direction": np.ones(len(index), dtype=np.int8),
            },
            index=index,
        )

    @classmethod
    def signals_frame(cls, index: pd.Index, *, entry: pd.Series, exit: pd.Series, stop: pd.Series | None = None,
                      take_profit: pd.Series | None = None, take_profit_fraction: float | None = None,
                      **columns: pd.Series) -> pd.DataFrame:
        """:meth:`empty_signals` with ``entry``/``exit`` set, the stop, target and target fraction on the entry
        bars only, and the diagnostic ``columns`` after them (all on ``index``), built by one constructor: adding
        the columns one by one costs more than the rest of an optimiser's trial."""
        entries = np.asarray(entry, dtype=bool)
        if len(entries) != len(index):
            raise ValueError(f"entry has {len(entries)} values for {len(index)} bars")

        def on_entries(level: Any, otherwise: float) -> np.ndarray:
            if level is None:
                return np.full(len(index), otherwise)
            return np.where(entries, np.asarray(level, dtype=float), otherwise)

        frame = {
            "entry": entries, "exit": np.asarray(exit, dtype=bool), "stop": on_entries(stop, np.nan),
            "take_profit": on_entries(take_profit, np.nan),
            "take_profit_fraction": on_entries(take_profit_fraction, 1.0),
            "scale_in": np.zeros(len(index), dtype=bool), "direction": np.ones(len(index), dtype=np.int8),
        }
        return pd.DataFrame({**frame, **columns}, index=index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"
