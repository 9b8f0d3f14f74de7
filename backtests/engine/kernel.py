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
N_PARAMS = 16
SIZING_RISK, SIZING_FIXED = 0, 1

# --- per-symbol state columns -------------------------------------------------------------------
S_QTY, S_AVG, S_EBAR, S_FEES, S_SLIP, S_STOP, S_TP, S_TPF, S_ARMED, S_LAST = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
S_PENT, S_PSIG, S_PEXIT, S_PEXR, S_PSCALE, S_PSCSIG = 10, 11, 12, 13, 14, 15
N_STATE = 16

# --- fill kinds / trade exit reasons --------------------------------------------------------------
K_ENTRY, K_SCALE_IN, K_SIGNAL, K_STOP, K_TP, K_BREAKER, K_END = 0, 1, 2, 3, 4, 5, 6
FILL_KINDS = ("entry", "scale_in", "signal", "stop_loss", "take_profit", "circuit_breaker", "end_of_data")

# --- refusal reasons ------------------------------------------------------------------------------
REFUSAL_REASONS = (
    "missing_stop", "stop_beyond_price", "position_size", "insufficient_cash", "portfolio_heat",
    "correlation", "circuit_breaker", "gap_expired", "short_not_allowed", "end_of_data",
)
R_MISSING_STOP, R_STOP_BEYOND, R_POSITION_SIZE, R_CASH, R_HEAT = 0, 1, 2, 3, 4
R_CORRELATION, R_BREAKER, R_GAP, R_SHORT, R_END = 5, 6, 7, 8, 9

# --- record layouts --------------------------------------------------------------------------------
TRADE_FIELDS = ("symbol", "side", "entry_bar", "entry_price", "exit_bar", "exit_price", "quantity", "fees",
                "slippage_cost", "pnl", "return_pct", "exit_reason", "is_partial")
FILL_FIELDS = ("bar", "symbol", "side", "quantity", "price", "fee", "slippage_cost", "kind")
EQUITY_FIELDS = ("equity", "cash", "drawdown", "exposure", "portfolio_heat", "open_positions",
                 "circuit_breaker")
C_TRADES, C_FILLS, C_REFUSALS, C_BREAKER_EVENTS = 0, 1, 2, 3

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
def _close_position(state, s, bar, qty, ref, kind, params, cash_box, trades, fills, counts):
    """Sell (long) / buy back (short) `qty` of symbol s at reference price `ref`; record fill and trade."""
    pos = state[s, S_QTY]
    side = 1.0 if pos > 0 else -1.0
    qty = min(qty, abs(pos))
    price = ref * (1.0 - side * params[P_SLIP])
    fee = params[P_FEE] * qty * price
    slip_cost = qty * abs(price - ref)
    fraction = qty / abs(pos)
    entry_fees = state[s, S_FEES] * fraction
    entry_slip = state[s, S_SLIP] * fraction
    state[s, S_FEES] -= entry_fees
    state[s, S_SLIP] -= entry_slip
    cash_box[0] += side * qty * price - fee
    avg = state[s, S_AVG]
    pnl = side * (price - avg) * qty - fee - entry_fees
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
    counts[C_TRADES] = k + 1
    _record_fill(fills, counts, bar, s, -side, qty, price, fee, slip_cost, kind)
    if partial:
        state[s, S_QTY] = side * remaining
    else:
        state[s, S_QTY] = 0.0
        state[s, S_FEES] = 0.0
        state[s, S_SLIP] = 0.0
        state[s, S_STOP] = np.nan
        state[s, S_TP] = np.nan
        state[s, S_ARMED] = 0.0
        state[s, S_PEXIT] = -1.0
        state[s, S_PSCALE] = -1.0


@njit(cache=True)
def _try_open(state, s, bar, sig, is_scale, open_, direction, stop_sig, tp_sig, tpf_sig, returns, params,
              halted, cash_box, fills, refusals, counts):
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
def _check_stop_and_target(state, s, bar, open_, high, low, params, cash_box, trades, fills, counts):
    qty = state[s, S_QTY]
    if qty == 0.0:
        return
    o, h, lo = open_[bar, s], high[bar, s], low[bar, s]
    stop = state[s, S_STOP]
    if not np.isnan(stop):
        if qty > 0 and lo <= stop:
            _close_position(state, s, bar, qty, min(o, stop), K_STOP, params, cash_box, trades, fills, counts)
            return
        if qty < 0 and h >= stop:
            _close_position(state, s, bar, -qty, max(o, stop), K_STOP, params, cash_box, trades, fills, counts)
            return
    if state[s, S_ARMED] == 1.0:
        tp = state[s, S_TP]
        hit = (qty > 0 and h >= tp) or (qty < 0 and lo <= tp)
        if hit:
            ref = max(o, tp) if qty > 0 else min(o, tp)
            state[s, S_ARMED] = 0.0
            _close_position(state, s, bar, abs(qty) * state[s, S_TPF], ref, K_TP, params, cash_box, trades,
                            fills, counts)


@njit(cache=True)
def simulate(open_, high, low, close, returns, entry, exit_, scale_in, direction, stop_sig, tp_sig, tpf_sig,
             params, trades, fills, refusals, equity_out, breaker_bars, counts):
    """Walk the grid bar by bar. Order inside bar i (per symbol, symbols in column order):

    1. mark open; 2. due exit orders fill at the open; 3. due entries / scale-ins are risk-checked and
    filled at the open (an entry whose fill bar is missing for its symbol expires); 4. stop, then target,
    checked against the bar's range; 5. mark close, equity, drawdown, circuit breaker; 6. read the
    signals of bar i and queue orders for bar i + lag.
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
    cash_box = np.zeros(1)
    cash_box[0] = params[P_CAPITAL]
    peak = params[P_CAPITAL]
    breaker_peak = params[P_CAPITAL]
    halted = False
    tripped_at = -1
    for i in range(n):
        # 1-2. opens and due exits
        for s in range(m):
            if np.isnan(open_[i, s]):
                continue
            if state[s, S_QTY] != 0.0:
                state[s, S_LAST] = open_[i, s]
            pexit = state[s, S_PEXIT]
            if pexit >= 0 and pexit <= i:
                if state[s, S_QTY] != 0.0:
                    _close_position(state, s, i, abs(state[s, S_QTY]), open_[i, s], int(state[s, S_PEXR]),
                                    params, cash_box, trades, fills, counts)
                state[s, S_PEXIT] = -1.0
        # 3. due entries and scale-ins
        for s in range(m):
            if state[s, S_PENT] == i:
                state[s, S_PENT] = -1.0
                if np.isnan(open_[i, s]):
                    _refuse(refusals, counts, i, s, R_GAP)
                elif state[s, S_QTY] == 0.0:
                    _try_open(state, s, i, int(state[s, S_PSIG]), False, open_, direction, stop_sig, tp_sig,
                              tpf_sig, returns, params, halted, cash_box, fills, refusals, counts)
            if state[s, S_PSCALE] == i:
                state[s, S_PSCALE] = -1.0
                if np.isnan(open_[i, s]):
                    _refuse(refusals, counts, i, s, R_GAP)
                elif state[s, S_QTY] != 0.0:
                    _try_open(state, s, i, int(state[s, S_PSCSIG]), True, open_, direction, stop_sig, tp_sig,
                              tpf_sig, returns, params, halted, cash_box, fills, refusals, counts)
        # 4. intrabar stops and targets
        for s in range(m):
            if state[s, S_QTY] != 0.0 and not np.isnan(open_[i, s]) and (
                    not np.isnan(state[s, S_STOP]) or state[s, S_ARMED] == 1.0):
                _check_stop_and_target(state, s, i, open_, high, low, params, cash_box, trades, fills, counts)
        # 5. close: equity, drawdown, breaker
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
                if not np.isnan(stop_sig[i, s]):
                    state[s, S_STOP] = stop_sig[i, s]
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
                            cash_box, trades, fills, counts)
        equity = _equity(state, cash_box[0])
        peak = max(peak, equity)
        equity_out[0, n - 1] = equity
        equity_out[1, n - 1] = cash_box[0]
        equity_out[2, n - 1] = 1.0 - equity / peak if peak > 0 else 0.0
        equity_out[3, n - 1] = 0.0
        equity_out[4, n - 1] = 0.0
        equity_out[5, n - 1] = 0.0
