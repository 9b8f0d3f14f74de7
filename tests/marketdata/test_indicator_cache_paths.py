"""Indicator-cache writes (binary COPY on PostgreSQL, executemany elsewhere) store exactly what the previous
write path (Django ``bulk_create(ignore_conflicts=True)``, kept here as the reference) stored, and count the
same new rows, conflicts included; the raw-cursor read of non-PostgreSQL backends returns what the previous
ORM read returned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import marketdata.indicator_cache as cache
from marketdata import indicators as ind
from marketdata.indicator_cache import parse_requests
from marketdata.models import IndicatorValue
from tests.marketdata.test_indicator_cache import make_candles

pytestmark = pytest.mark.django_db

REQUESTS = [("macd", {}), ("vwap_daily", {}), ("rsi", {"window": 14})]  # vwap_daily: an empty params text


def previous_insert(symbol, timeframe, key, rows) -> int:
    params = key.params_str
    qs = IndicatorValue.objects.filter(symbol=symbol, timeframe=timeframe, indicator=key.name, params=params)
    before = qs.count()
    objects = [
        IndicatorValue(symbol=symbol, timeframe=timeframe, indicator=key.name, params=params, output=output,
                       open_time=open_time, value=value)
        for output, series in rows.items()
        for open_time, value in zip(series.index.to_pydatetime(), series.to_numpy().tolist(), strict=True)
    ]
    IndicatorValue.objects.bulk_create(objects, batch_size=2000, ignore_conflicts=True)
    return qs.count() - before


def computed_rows(n: int = 400) -> list[tuple]:
    candles = make_candles(n)
    candles.index = candles.index.as_unit("ns")
    out = []
    for key in parse_requests(REQUESTS):
        computed = ind.compute_indicator(key.name, candles, **key.params_dict)
        out.append((key, {output: computed[output].dropna() for output in computed.columns}))
    return out


def stored(symbol: str) -> list[tuple]:
    return list(IndicatorValue.objects.filter(symbol=symbol).order_by("indicator", "params", "output", "open_time")
                .values_list("timeframe", "indicator", "params", "output", "open_time", "value"))


def write_both(rows_by_key, part=slice(None)) -> list[tuple[int, int]]:
    counts = []
    with transaction.atomic():
        for key, rows in rows_by_key:
            subset = {output: series.iloc[part] for output, series in rows.items()}
            counts.append((cache._insert("NEW", "1h", key, subset), previous_insert("OLD", "1h", key, subset)))
    return counts


def test_writes_store_the_same_values_as_bulk_create():
    rows_by_key = computed_rows()
    started = timezone.now()

    counts = write_both(rows_by_key)

    expected = [sum(len(series) for series in rows.values()) for _, rows in rows_by_key]
    assert counts == [(n, n) for n in expected]
    new, old = stored("NEW"), stored("OLD")
    assert len(new) == sum(expected) and new == old  # same keys, times and float values, bit for bit
    assert {row[2] for row in new} == {"fast=12,signal=9,slow=26", "", "window=14"}
    moments = IndicatorValue.objects.filter(symbol="NEW").values_list("computed_at", flat=True).distinct()
    assert all(started - timedelta(seconds=1) <= moment <= timezone.now() for moment in moments)


def test_rows_stored_already_are_skipped_and_not_counted():
    rows_by_key = computed_rows()
    write_both(rows_by_key, slice(100, 250))  # the middle is stored already (as a concurrent writer would)

    counts = write_both(rows_by_key)

    expected = [sum(len(series) for series in rows.values()) - 150 * len(rows) for _, rows in rows_by_key]
    assert counts == [(n, n) for n in expected]
    assert stored("NEW") == stored("OLD")


def test_postgres_copies_straight_into_the_table_and_falls_back_only_on_a_conflict(requires_postgres, monkeypatch):
    rows_by_key = computed_rows(200)
    staged = []
    real = cache._insert_postgres_staged
    monkeypatch.setattr(cache, "_insert_postgres_staged", lambda *args: staged.append(args[2]) or real(*args))
    key, rows = rows_by_key[0]
    with transaction.atomic():
        first = cache._insert("NEW", "1h", key, {output: series.iloc[:150] for output, series in rows.items()})
    assert staged == []
    with transaction.atomic():
        second = cache._insert("NEW", "1h", key, rows)  # 150 rows per output exist: the COPY fails, rolled back

    assert staged == [key]
    assert (first, second) == (3 * 150, sum(len(series) - 150 for series in rows.values()))
    stored_values = IndicatorValue.objects.filter(symbol="NEW", output="hist").order_by("open_time")
    np.testing.assert_array_equal(np.array(stored_values.values_list("value", flat=True)),
                                  rows["hist"].to_numpy())


def test_sync_results_are_the_same_on_a_second_symbol_written_by_the_reference(monkeypatch):
    """End to end: indicators_sync with the new writes and with bulk_create give the same cache and frame."""
    from tests.marketdata.test_indicator_cache import store

    candles = make_candles(300)
    store(candles, symbol="BTC")
    store(candles, symbol="ETH")
    new = cache.indicators_sync(symbol="BTC", timeframe="1h", indicators=REQUESTS)
    monkeypatch.setattr(cache, "_insert_postgres", previous_insert)
    monkeypatch.setattr(cache, "_insert_executemany", previous_insert)
    old = cache.indicators_sync(symbol="ETH", timeframe="1h", indicators=REQUESTS)

    assert new.inserted == old.inserted
    pd.testing.assert_frame_equal(new.frame, old.frame)
    assert [row[1:] for row in stored("BTC")] == [row[1:] for row in stored("ETH")]
    read = cache.read_stored(symbol="BTC", timeframe="1h", keys=parse_requests(REQUESTS))
    pd.testing.assert_frame_equal(read, new.frame[read.columns].dropna(how="all"), check_freq=False)


def previous_read(symbol, timeframe, targets, start, end):
    code_of = {(key.name, key.params_str, output): i for i, (key, output) in enumerate(targets)}
    pairs = Q()
    for key, output in targets:
        pairs |= Q(indicator=key.name, params=key.params_str, output=output)
    qs = IndicatorValue.objects.filter(pairs, symbol=symbol, timeframe=timeframe)
    if start is not None:
        qs = qs.filter(open_time__gte=start)
    if end is not None:
        qs = qs.filter(open_time__lt=end)
    rows = list(qs.values_list("indicator", "params", "output", "open_time", "value"))
    codes = np.array([code_of[row[:3]] for row in rows], dtype=np.int64)
    times = pd.to_datetime([row[3] for row in rows], utc=True).as_unit("ns").asi8
    values = np.array([row[4] for row in rows], dtype="float64")
    return codes, np.asarray(times, dtype=np.int64), values


@pytest.mark.filterwarnings("ignore:DateTimeField IndicatorValue.open_time received a naive datetime")
@pytest.mark.parametrize(("start", "end"), [
    (None, None),
    (datetime(2023, 5, 3, tzinfo=UTC), datetime(2023, 5, 9, 7, tzinfo=UTC)),
    (datetime(2023, 5, 10), None),  # naive: UTC, as the ORM takes it
    (datetime(2031, 1, 1, tzinfo=UTC), None),  # nothing
])
def test_the_raw_read_returns_what_the_orm_read_returned(start, end, monkeypatch):
    rows_by_key = computed_rows(300)
    with transaction.atomic():
        for key, rows in rows_by_key:
            cache._insert("BTC", "1h", key, rows)
            cache._insert("ETH", "1h", key, {output: series.iloc[:10] for output, series in rows.items()})
    keys = [key for key, _ in rows_by_key]
    targets = [(key, output) for key in keys for output in key.outputs]

    new = cache._read_sqlite("BTC", "1h", targets, start, end)
    old = previous_read("BTC", "1h", targets, start, end)

    order_new, order_old = np.lexsort(new[:2]), np.lexsort(old[:2])
    for got, expected in zip(new, old, strict=True):
        np.testing.assert_array_equal(got[order_new], expected[order_old])
    assert new[2].dtype == np.float64 and new[1].dtype == np.int64
    frame = cache.read_stored(symbol="BTC", timeframe="1h", keys=keys, start=start, end=end)
    monkeypatch.setattr(cache, "_read_sqlite", previous_read)
    monkeypatch.setattr(cache, "_read_postgres", previous_read)
    pd.testing.assert_frame_equal(frame, cache.read_stored(symbol="BTC", timeframe="1h", keys=keys, start=start,
                                                           end=end))
