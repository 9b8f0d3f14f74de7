"""The numba bar loop: fills, positions, sizing and risk limits on dense (bars x symbols) arrays.

Everything here works on int/float64 numpy arrays on a regular time grid (row = grid bar, column =
symbol; NaN prices mark bars a symbol does not have). ``backtests.engine.run`` builds the arrays and
turns the record arrays below into DataFrames. Codes are module constants so the wrapper can name them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --- parameter vector layout ------------------------------------------------------------------
P_CAPITAL, P_FEE, P_SLIP, P_LAG, P_SIZING, P_FRACTION, P_ALLOW_SHORT, P_CLOSE_AT_END = 0, 1, 2, 3, 4, 5, 6, 7
P_MIN_POS, P_MAX_POS, P_RISK, P_MAX_HEAT, P_MAX_DD, P_COOLDOWN, P_CORR_LIMIT, P_CORR_WINDOW = (
    8, 9, 10, 11, 12, 13, 14, 15)
P_MAKER_FEE, P_SLIP_MODEL, P_MAX_SHARE, P_LONG_CARRY, P_SHORT_CARRY, P_STOP_RULE, P_DETAIL = (
    16, 17, 18, 19, 20, 21, 22)
N_PARAMS = 23
SIZING_RISK, SIZING_FIXED = 0, 1
SLIP_FIXED, SLIP_VOLUME = 0, 1
STOP_TIGHTEN, STOP_NEVER, STOP_ANY = 0, 1, 2  # the order of config.STOP_UPDATE_RULES

# --- per-symbol state columns -------------------------------------------------------------------
S_QTY, S_AVG, S_EBAR, S_FEES, S_SLIP, S_STOP, S_TP, S_TPF, S_ARMED, S_LAST = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
S_PENT, S_PSIG, S_PEXIT, S_PEXR, S_PSCALE, S_PSCSIG, S_CARRY, S_PEXQ = 10, 11, 12, 13, 14, 15, 16, 17
N_STATE = 18

# --- fill kinds / trade exit reasons --------------------------------------------------------------
K_ENTRY, K_SCALE_IN, K_SIGNAL, K_STOP, K_TP, K_BREAKER, K_END = 0, 1, 2, 3, 4, 5, 6
FILL_KINDS = ("entry", "scale_in", "signal", "stop_loss", "take_profit", "circuit_breaker", "end_of_data")

# --- refusal reasons ------------------------------------------------------------------------------
REFUSAL_REASONS = (
    "missing_stop", "stop_beyond_price", "position_size", "insufficient_cash", "portfolio_heat",
    "correlation", "circuit_breaker", "gap_expired", "short_not_allowed", "end_of_data", "volume_cap",
    "no_volume",
)
R_MISSING_STOP, R_STOP_BEYOND, R_POSITION_SIZE, R_CASH, R_HEAT = 0, 1, 2, 3, 4
R_CORRELATION, R_BREAKER, R_GAP, R_SHORT, R_END, R_VOLUME_CAP, R_NO_VOLUME = 5, 6, 7, 8, 9, 10, 11

# --- record layouts --------------------------------------------------------------------------------
TRADE_FIELDS = ("symbol", "side", "entry_bar", "entry_price", "exit_bar", "exit_price", "quantity", "fees",
                "slippage_cost", "pnl", "return_pct", "exit_reason", "is_partial", "carry")
FILL_FIELDS = ("bar", "symbol", "side", "quantity", "price", "fee", "slippage_cost", "kind")
EQUITY_FIELDS = ("equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                 "circuit_breaker")
C_TRADES, C_FILLS, C_REFUSALS, C_BREAKER_EVENTS = 0, 1, 2, 3
#: Bars where one bar reached both stop and target; of those, resolved by finer candles (stop first / target
#: first) or not (no complete finer candles, or they reached neither); stop moves the stop rule refused;
#: exits cut by the volume cap.
C_BOTH_HIT, C_DETAIL_STOP_FIRST, C_DETAIL_TARGET_FIRST, C_DETAIL_NONE, C_STOP_MOVES_REFUSED, C_EXITS_CAPPED = (
    4, 5, 6, 7, 8, 9)
N_COUNTS = 10

_EPS = 1e-12


@njit(cache=True)
def _refuse(refusals, counts, bar, sym, reason):
    k = counts[C_REFUSALS]
    refusals[k, 0] = bar
    refusals[k, 1] = sym
    refusals[k, 2] = reason
    counts[C_REFUSALS] = k + 1


@njit(cache=True)
def _record_fill(fills, counts, bar, sym, side, qty, price, fee, slip_cost, kind):
    k = counts[C_FILLS]
    fills[k, 0] = bar
    fills[k, 1] = sym
    fills[k, 2] = side
    fills[k, 3] = qty
    fills[k, 4] = price
    fills[k, 5] = fee
    fills[k, 6] = slip_cost
    fills[k, 7] = kind
    counts[C_FILLS] = k + 1


@njit(cache=True)
def _slip_rate(params, liquidity, bar, s, value):
    """Slippage of a taker fill worth ``value``: fixed, or plus ``Y * sigma * sqrt(value / quote volume)``
    (``liquidity[0]`` the last bar's quote volume, ``liquidity[1]`` ``Y * sigma``)."""
    if params[P_SLIP_MODEL] != SLIP_VOLUME:
        return params[P_SLIP]
    volume = liquidity[0, bar, s]
    scale = liquidity[1, bar, s]
    if not volume > 0.0 or np.isnan(scale):
        return params[P_SLIP]
    return params[P_SLIP] + scale * np.sqrt(value / volume)


@njit(cache=True)
def _equity(state, cash):
    total = cash
    for s in range(state.shape[0]):
        if state[s, S_QTY] != 0.0:
            total += state[s, S_QTY] * state[s, S_LAST]
    return total


@njit(cache=True)
def _position_risk(state, s):
    """Open risk-to-stop of symbol s at its last price (whole value if it has no stop)."""
    qty = state[s, S_QTY]
    if qty == 0.0:
        return 0.0
    last = state[s, S_LAST]
    stop = state[s, S_STOP]
    if np.isnan(stop):
        return abs(qty) * last
    if qty > 0:
        return max(0.0, last - stop) * qty
    return max(0.0, stop - last) * (-qty)


@njit(cache=True)
def _heat(state):
    total = 0.0
    for s in range(state.shape[0]):
        total += _position_risk(state, s)
    return total


@njit(cache=True)
def _correlation(returns, bar, a, b, window):
    """Pearson correlation of returns of a and b over the `window` bars before `bar` (NaN if < window/2)."""
    sx = sy = sxx = syy = sxy = 0.0
    count = 0
    for j in range(max(0, bar - window), bar):
        x = returns[j, a]
        y = returns[j, b]
        if np.isnan(x) or np.isnan(y):
            continue
        count += 1
        sx += x
        sy += y
        sxx += x * x
        syy += y * y
        sxy += x * y
    if count < max(3, window // 2):
        return np.nan
    cov = sxy - sx * sy / count
    vx = sxx - sx * sx / count
    vy = syy - sy * sy / count
    if vx <= 0.0 or vy <= 0.0:
        return np.nan
    return cov / np.sqrt(vx * vy)


@njit(cache=True)
def _close_position(state, s, bar, qty, ref, kind, params, liquidity, cash_box, trades, fills, counts):
    """Sell (long) / buy back (short) `qty` of symbol s at reference price `ref`; record fill and trade.

    Under the volume-share model a fill takes at most ``max_volume_share`` of the last bar's quote volume;
    the rest is queued for the next bar's open with the same reason (never at the end of the data).
    """
    pos = state[s, S_QTY]
    side = 1.0 if pos > 0 else -1.0
    qty = min(qty, abs(pos))
    maker = kind == K_TP and not np.isnan(params[P_MAKER_FEE])
    if params[P_SLIP_MODEL] == SLIP_VOLUME and kind != K_END and liquidity[0, bar, s] > 0.0:
        cap = params[P_MAX_SHARE] * liquidity[0, bar, s] / ref
        if qty > cap * (1.0 + 1e-12):
            counts[C_EXITS_CAPPED] += 1
            if state[s, S_PEXIT] < 0:
                state[s, S_PEXIT] = bar + 1
                state[s, S_PEXR] = kind
                state[s, S_PEXQ] = qty - cap if kind == K_TP and qty < abs(pos) * (1.0 - 1e-9) else np.nan
            qty = cap
    slip = 0.0 if maker else _slip_rate(params, liquidity, bar, s, qty * ref)
    price = ref * (1.0 - side * slip)
    fee = (params[P_MAKER_FEE] if maker else params[P_FEE]) * qty * price
    slip_cost = qty * abs(price - ref)
    fraction = qty / abs(pos)
    entry_fees = state[s, S_FEES] * fraction
    entry_slip = state[s, S_SLIP] * fraction
    carry = state[s, S_CARRY] * fraction
    state[s, S_FEES] -= entry_fees
    state[s, S_SLIP] -= entry_slip
    state[s, S_CARRY] -= carry
    cash_box[0] += side * qty * price - fee
    avg = state[s, S_AVG]
    pnl = side * (price - avg) * qty - fee - entry_fees - carry
    remaining = abs(pos) - qty
    partial = remaining > abs(pos) * 1e-9
    k = counts[C_TRADES]
    trades[k, 0] = s
    trades[k, 1] = side
    trades[k, 2] = state[s, S_EBAR]
    trades[k, 3] = avg
    trades[k, 4] = bar
    trades[k, 5] = price
    trades[k, 6] = qty
    trades[k, 7] = fee + entry_fees
    trades[k, 8] = slip_cost + entry_slip
    trades[k, 9] = pnl
    trades[k, 10] = pnl / (avg * qty)
    trades[k, 11] = kind
    trades[k, 12] = 1.0 if partial else 0.0
    trades[k, 13] = carry
    counts[C_TRADES] = k + 1
    _record_fill(fills, counts, bar, s, -side, qty, price, fee, slip_cost, kind)
    if partial:
        state[s, S_QTY] = side * remaining
    else:
        state[s, S_QTY] = 0.0
        state[s, S_FEES] = 0.0
        state[s, S_SLIP] = 0.0
        state[s, S_CARRY] = 0.0
        state[s, S_PEXQ] = np.nan
        state[s, S_STOP] = np.nan
        state[s, S_TP] = np.nan
        state[s, S_ARMED] = 0.0
        state[s, S_PEXIT] = -1.0
        state[s, S_PSCALE] = -1.0


@njit(cache=True)
def _try_open(state, s, bar, sig, is_scale, open_, direction, stop_sig, tp_sig, tpf_sig, returns, liquidity,
              params, halted, cash_box, fills, refusals, counts):
    """Risk-check, size and fill an entry (or scale-in) of symbol s at the open of `bar`."""
    if halted:
        _refuse(refusals, counts, bar, s, R_BREAKER)
        return
    if is_scale:
        side = 1.0 if state[s, S_QTY] > 0 else -1.0
        stop = state[s, S_STOP]
    else:
        side = 1.0 if direction[sig, s] >= 0 else -1.0
        stop = stop_sig[sig, s]
    ref = open_[bar, s]
    price = ref * (1.0 + side * params[P_SLIP])
    fee_rate = params[P_FEE]
    equity = _equity(state, cash_box[0])
    if np.isnan(stop):
        if params[P_SIZING] == SIZING_RISK:
            _refuse(refusals, counts, bar, s, R_MISSING_STOP)
            return
    elif (side > 0 and stop >= ref) or (side < 0 and stop <= ref):
        _refuse(refusals, counts, bar, s, R_STOP_BEYOND)
        return
    if params[P_SIZING] == SIZING_RISK:
        value = params[P_RISK] * equity / abs(price - stop) * price
    else:
        value = params[P_FRACTION] * equity / (1.0 + fee_rate)
    max_value = params[P_MAX_POS] * equity
    min_value = params[P_MIN_POS] * equity
    if is_scale:
        max_value -= abs(state[s, S_QTY]) * price
        min_value = 0.0
    value = min(max(value, min_value), max_value)
    if value <= 0.0:
        _refuse(refusals, counts, bar, s, R_POSITION_SIZE)
        return
    if params[P_SLIP_MODEL] == SLIP_VOLUME:
        volume = liquidity[0, bar, s]
        if not volume > 0.0:
            _refuse(refusals, counts, bar, s, R_NO_VOLUME)
            return
        cap = params[P_MAX_SHARE] * volume
        if value > cap:
            if cap < min_value * (1.0 - 1e-9):
                _refuse(refusals, counts, bar, s, R_VOLUME_CAP)
                return
            value = cap
        price = ref * (1.0 + side * _slip_rate(params, liquidity, bar, s, value))
        if params[P_SIZING] == SIZING_RISK:  # the worse price must not raise the risk to the stop
            value = min(value, params[P_RISK] * equity / abs(price - stop) * price)
    cash = cash_box[0]
    if value * (1.0 + fee_rate) > cash:
        value = cash / (1.0 + fee_rate)
        if value <= 0.0 or value < min_value * (1.0 - 1e-9):
            _refuse(refusals, counts, bar, s, R_CASH)
            return
    qty = value / price
    new_risk = value if np.isnan(stop) else qty * abs(price - stop)
    if _heat(state) + new_risk > params[P_MAX_HEAT] * equity * (1.0 + 1e-9):
        _refuse(refusals, counts, bar, s, R_HEAT)
        return
    if not is_scale and params[P_CORR_LIMIT] < np.inf:
        window = int(params[P_CORR_WINDOW])
        for other in range(state.shape[0]):
            if other != s and state[other, S_QTY] != 0.0:
                corr = _correlation(returns, bar, s, other, window)
                if corr > params[P_CORR_LIMIT]:
                    _refuse(refusals, counts, bar, s, R_CORRELATION)
                    return
    fee = fee_rate * qty * price
    slip_cost = qty * abs(price - ref)
    cash_box[0] -= side * qty * price + fee
    old_qty = abs(state[s, S_QTY])
    if old_qty == 0.0:
        state[s, S_AVG] = price
    else:
        state[s, S_AVG] = (state[s, S_AVG] * old_qty + price * qty) / (old_qty + qty)
    state[s, S_QTY] = side * (old_qty + qty)
    state[s, S_FEES] += fee
    state[s, S_SLIP] += slip_cost
    state[s, S_LAST] = ref
    if is_scale:
        _record_fill(fills, counts, bar, s, side, qty, price, fee, slip_cost, K_SCALE_IN)
        return
    state[s, S_EBAR] = bar
    state[s, S_STOP] = stop
    tp = tp_sig[sig, s]
    state[s, S_TP] = tp
    state[s, S_ARMED] = 0.0 if np.isnan(tp) else 1.0
    tpf = tpf_sig[sig, s]
    state[s, S_TPF] = 1.0 if np.isnan(tpf) else tpf
    _record_fill(fills, counts, bar, s, side, qty, price, fee, slip_cost, K_ENTRY)


@njit(cache=True)
def _stop_hit(qty, stop, high, low):
    return not np.isnan(stop) and ((qty > 0 and low <= stop) or (qty < 0 and high >= stop))


@njit(cache=True)
def _target_hit(state, s, qty, high, low):
    if state[s, S_ARMED] != 1.0:
        return False
    tp = state[s, S_TP]
    return (qty > 0 and high >= tp) or (qty < 0 and low <= tp)


@njit(cache=True)
def _fill_stop(state, s, bar, o, params, liquidity, cash_box, trades, fills, counts):
    qty = state[s, S_QTY]
    stop = state[s, S_STOP]
    ref = min(o, stop) if qty > 0 else max(o, stop)
    _close_position(state, s, bar, abs(qty), ref, K_STOP, params, liquidity, cash_box, trades, fills, counts)


@njit(cache=True)
def _fill_target(state, s, bar, o, params, liquidity, cash_box, trades, fills, counts):
    qty = state[s, S_QTY]
    tp = state[s, S_TP]
    ref = max(o, tp) if qty > 0 else min(o, tp)
    state[s, S_ARMED] = 0.0
    _close_position(state, s, bar, abs(qty) * state[s, S_TPF], ref, K_TP, params, liquidity, cash_box, trades,
                    fills, counts)


@njit(cache=True)
def _check_stop_and_target(state, s, bar, open_, high, low, params, liquidity, det_open, det_high, det_low,
                           det_start, det_end, cash_box, trades, fills, counts):
    """Stop, then target, against the bar's range. When the bar reaches both and complete finer candles of
    the bar are given (``P_DETAIL``), they are walked in order instead (stop first within one finer bar)."""
    qty = state[s, S_QTY]
    if qty == 0.0:
        return
    o, h, lo = open_[bar, s], high[bar, s], low[bar, s]
    stop_hit = _stop_hit(qty, state[s, S_STOP], h, lo)
    if stop_hit and _target_hit(state, s, qty, h, lo):
        counts[C_BOTH_HIT] += 1
        if params[P_DETAIL] != 0.0 and det_end[bar, s] > det_start[bar, s]:
            for k in range(det_start[bar, s], det_end[bar, s]):
                qty = state[s, S_QTY]
                if _stop_hit(qty, state[s, S_STOP], det_high[k], det_low[k]):
                    if state[s, S_ARMED] == 1.0:
                        counts[C_DETAIL_STOP_FIRST] += 1
                    _fill_stop(state, s, bar, det_open[k], params, liquidity, cash_box, trades, fills, counts)
                    return
                if _target_hit(state, s, qty, det_high[k], det_low[k]):
                    counts[C_DETAIL_TARGET_FIRST] += 1
                    _fill_target(state, s, bar, det_open[k], params, liquidity, cash_box, trades, fills, counts)
                    if state[s, S_QTY] == 0.0:
                        return
            if state[s, S_ARMED] == 1.0:  # the finer candles reached neither: the coarse rule decides
                counts[C_DETAIL_NONE] += 1
            else:
                return  # the target filled and the rest of the position survived the bar
        else:
            counts[C_DETAIL_NONE] += 1
    if stop_hit:
        _fill_stop(state, s, bar, o, params, liquidity, cash_box, trades, fills, counts)
        return
    if _target_hit(state, s, qty, h, lo):
        _fill_target(state, s, bar, o, params, liquidity, cash_box, trades, fills, counts)


@njit(cache=True)
def simulate(open_, high, low, close, returns, liquidity, entry, exit_, scale_in, direction, stop_sig, tp_sig,
             tpf_sig, det_open, det_high, det_low, det_start, det_end, params, trades, fills, refusals, equity_out,
             breaker_bars, counts):
    """Walk the grid bar by bar. Order inside bar i (per symbol, symbols in column order):

    1. mark open; 2. due exit orders fill at the open; 3. due entries / scale-ins are risk-checked and
    filled at the open (an entry whose fill bar is missing for its symbol expires); 4. stop, then target,
    checked against the bar's range (or its finer candles when it reaches both); 5. carry is charged, then
    close: equity, drawdown, circuit breaker; 6. read the signals of bar i and queue orders for bar i + lag.
    ``liquidity`` (2 x bars x symbols, read by the volume-share model only): the quote volume of the last
    completed bar and the impact scale ``Y * sigma`` of the bar returns before it; ``det_*`` are finer candles, bar i of symbol s owning rows ``det_start[i, s]:det_end[i, s]``.
    """
    n, m = open_.shape
    lag = int(params[P_LAG])
    cooldown = int(params[P_COOLDOWN])
    state = np.zeros((m, N_STATE))
    for s in range(m):
        state[s, S_STOP] = np.nan
        state[s, S_TP] = np.nan
        state[s, S_PENT] = -1.0
        state[s, S_PEXIT] = -1.0
        state[s, S_PSCALE] = -1.0
        state[s, S_LAST] = np.nan
        state[s, S_PEXQ] = np.nan
    cash_box = np.zeros(1)
    cash_box[0] = params[P_CAPITAL]
    peak = params[P_CAPITAL]
    breaker_peak = params[P_CAPITAL]
    halted = False
    tripped_at = -1
    carry_on = params[P_LONG_CARRY] != 0.0 or params[P_SHORT_CARRY] != 0.0
    stop_rule = int(params[P_STOP_RULE])
    for i in range(n):
        # 1-2. opens and due exits
        for s in range(m):
            if np.isnan(open_[i, s]):
                continue
            if state[s, S_QTY] != 0.0:
                state[s, S_LAST] = open_[i, s]
            pexit = state[s, S_PEXIT]
            if pexit >= 0 and pexit <= i:
                state[s, S_PEXIT] = -1.0
                qty = abs(state[s, S_QTY])
                if not np.isnan(state[s, S_PEXQ]):
                    qty = min(qty, state[s, S_PEXQ])
                    state[s, S_PEXQ] = np.nan
                if qty != 0.0:
                    _close_position(state, s, i, qty, open_[i, s], int(state[s, S_PEXR]), params, liquidity,
                                    cash_box, trades, fills, counts)
        # 3. due entries and scale-ins
        for s in range(m):
            if state[s, S_PENT] == i:
                state[s, S_PENT] = -1.0
                if np.isnan(open_[i, s]):
                    _refuse(refusals, counts, i, s, R_GAP)
                elif state[s, S_QTY] == 0.0:
                    _try_open(state, s, i, int(state[s, S_PSIG]), False, open_, direction, stop_sig, tp_sig,
                              tpf_sig, returns, liquidity, params, halted, cash_box, fills, refusals, counts)
            if state[s, S_PSCALE] == i:
                state[s, S_PSCALE] = -1.0
                if np.isnan(open_[i, s]):
                    _refuse(refusals, counts, i, s, R_GAP)
                elif state[s, S_QTY] != 0.0:
                    _try_open(state, s, i, int(state[s, S_PSCSIG]), True, open_, direction, stop_sig, tp_sig,
                              tpf_sig, returns, liquidity, params, halted, cash_box, fills, refusals, counts)
        # 4. intrabar stops and targets
        for s in range(m):
            if state[s, S_QTY] != 0.0 and not np.isnan(open_[i, s]) and (
                    not np.isnan(state[s, S_STOP]) or state[s, S_ARMED] == 1.0):
                _check_stop_and_target(state, s, i, open_, high, low, params, liquidity, det_open, det_high,
                                       det_low, det_start, det_end, cash_box, trades, fills, counts)
        # 5. carry on what is held through the close, then close: equity, drawdown, breaker
        if carry_on:
            for s in range(m):
                qty = state[s, S_QTY]
                if qty != 0.0:
                    last = close[i, s] if not np.isnan(close[i, s]) else state[s, S_LAST]
                    rate = params[P_LONG_CARRY] if qty > 0 else params[P_SHORT_CARRY]
                    charge = rate * abs(qty) * last
                    cash_box[0] -= charge
                    state[s, S_CARRY] += charge
        gross = 0.0
        heat = 0.0
        equity = cash_box[0]
        open_count = 0
        for s in range(m):
            if not np.isnan(close[i, s]):
                state[s, S_LAST] = close[i, s]
            qty = state[s, S_QTY]
            if qty != 0.0:
                last = state[s, S_LAST]
                equity += qty * last
                gross += abs(qty) * last
                stop = state[s, S_STOP]
                if np.isnan(stop):
                    heat += abs(qty) * last
                elif qty > 0:
                    heat += max(0.0, last - stop) * qty
                else:
                    heat += max(0.0, stop - last) * (-qty)
                open_count += 1
        peak = max(peak, equity)
        if halted and cooldown >= 0 and i - tripped_at >= cooldown:
            halted = False
            breaker_peak = equity
        breaker_peak = max(breaker_peak, equity)
        if not halted and equity <= breaker_peak * (1.0 - params[P_MAX_DD]) + _EPS * breaker_peak:
            halted = True
            tripped_at = i
            breaker_bars[counts[C_BREAKER_EVENTS]] = i
            counts[C_BREAKER_EVENTS] += 1
            for s in range(m):
                if state[s, S_QTY] != 0.0 and state[s, S_PEXIT] < 0:
                    state[s, S_PEXIT] = i + lag
                    state[s, S_PEXR] = K_BREAKER
                elif state[s, S_QTY] != 0.0:
                    state[s, S_PEXR] = K_BREAKER
        equity_out[0, i] = equity
        equity_out[1, i] = cash_box[0]
        equity_out[2, i] = 1.0 - equity / peak if peak > 0 else 0.0
        equity_out[3, i] = gross / equity if equity > 0 else 0.0
        equity_out[4, i] = heat / equity if equity > 0 else 0.0
        equity_out[5, i] = open_count
        equity_out[6, i] = 1.0 if halted else 0.0
        # 6. signals of bar i -> orders for bar i + lag
        for s in range(m):
            if np.isnan(close[i, s]):
                continue
            held = state[s, S_QTY] != 0.0
            if held:
                new_stop = stop_sig[i, s]
                if not np.isnan(new_stop) and new_stop != state[s, S_STOP]:
                    current = state[s, S_STOP]
                    tighter = np.isnan(current) or (new_stop > current if state[s, S_QTY] > 0
                                                    else new_stop < current)
                    if stop_rule == STOP_ANY or (stop_rule == STOP_TIGHTEN and tighter):
                        state[s, S_STOP] = new_stop
                    else:
                        counts[C_STOP_MOVES_REFUSED] += 1
                tp = tp_sig[i, s]
                if not np.isnan(tp) and tp != state[s, S_TP]:
                    state[s, S_TP] = tp
                    state[s, S_ARMED] = 1.0
                    tpf = tpf_sig[i, s]
                    state[s, S_TPF] = 1.0 if np.isnan(tpf) else tpf
            if exit_[i, s]:
                if held and state[s, S_PEXIT] < 0:
                    state[s, S_PEXIT] = i + lag
                    state[s, S_PEXR] = K_SIGNAL
                state[s, S_PENT] = -1.0
                state[s, S_PSCALE] = -1.0
            elif entry[i, s] and not held and state[s, S_PENT] < 0:
                if direction[i, s] < 0 and params[P_ALLOW_SHORT] == 0.0:
                    _refuse(refusals, counts, i, s, R_SHORT)
                elif halted:
                    _refuse(refusals, counts, i, s, R_BREAKER)
                elif i + lag >= n:
                    _refuse(refusals, counts, i, s, R_END)
                else:
                    state[s, S_PENT] = i + lag
                    state[s, S_PSIG] = i
            elif scale_in[i, s] and held and state[s, S_PSCALE] < 0 and state[s, S_PEXIT] < 0:
                if halted:
                    _refuse(refusals, counts, i, s, R_BREAKER)
                elif i + lag >= n:
                    _refuse(refusals, counts, i, s, R_END)
                else:
                    state[s, S_PSCALE] = i + lag
                    state[s, S_PSCSIG] = i
    # end of data: close what is still open at each symbol's last close
    if params[P_CLOSE_AT_END] != 0.0 and n > 0:
        for s in range(m):
            if state[s, S_QTY] == 0.0:
                continue
            last_bar = n - 1
            while last_bar > 0 and np.isnan(close[last_bar, s]):
                last_bar -= 1
            _close_position(state, s, last_bar, abs(state[s, S_QTY]), close[last_bar, s], K_END, params,
                            liquidity, cash_box, trades, fills, counts)
        equity = _equity(state, cash_box[0])
        peak = max(peak, equity)
        equity_out[0, n - 1] = equity
        equity_out[1, n - 1] = cash_box[0]
        equity_out[2, n - 1] = 1.0 - equity / peak if peak > 0 else 0.0
        equity_out[3, n - 1] = 0.0
        equity_out[4, n - 1] = 0.0
        equity_out[5, n - 1] = 0.0
