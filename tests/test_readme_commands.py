"""Every command line of the README's two command blocks is run, with the README's own arguments.

The lines are PARSED from README.md (a README change is tested): the trailing ``# comment`` is stripped,
optional ``[...]`` parts are dropped (the "minimal" form) or kept (the "full" form), ``a|b`` takes its
first alternative, and the rest is split with shlex. ``$M`` lines run through
``django.core.management.call_command``; the "Your own strategies" block runs in subprocesses of
``manage.py`` (it needs its own process: ``STRATEGIES_DIR`` is read at start-up) on a SQLite file database.

Providers are offline: BINANCE_BASE_URL, DEFILLAMA_BASE_URL, DEFILLAMA_STABLECOINS_BASE_URL,
LUNARCRUSH_BASE_URL and FEAR_GREED_BASE_URL point at a pytest-httpserver. The bundled data has no candles
for the README's window (January 2024), so the Binance answers and the import zip are REBUILT from the
bundled real BTC/ETH 1h candles of January 2023 (marketdata/sample_data/binance_spot_1h_2021_2023), prices
unchanged, times shifted by exactly 365 days; the LunarCrush answer is the recorded v2 DOGE payload
(tests/data/fixtures/lunarcrush/) re-timed to January 2024 (REBUILT, values unchanged).

Tested (16 lines; ``test_every_readme_line_is_covered`` fails when a line is added or removed):

Block ``M=".venv/bin/python manage.py"``:
  1. ``$M load_sample_data [--skip-fundamentals]``: minimal form (loads everything: the module's database),
     then the full form again (nothing inserted: idempotent)
  2. ``$M ingest_ohlcv ... [--source binance|coingecko]``: minimal form and full form (``--source binance``)
  3. ``$M import_ohlcv_csv BTCUSDT-1h-2024-01.zip ...``: the zip is built in tmp_path, run from there
  4. ``$M data_quality [...]``: minimal form (every stored series) and full form (``--json``, parsed)
  5. ``$M compute_indicators --symbols BTC,ETH --timeframe 1h [--indicators rsi,macd]``: full form (the
     minimal form, the whole default set on every stored BTC/ETH 1h bar, takes ~2 minutes: too slow)
  6. ``$M ingest_onchain [--protocols aave,gmx]``: minimal form (all protocols, DefiLlama's documented shapes)
  7. ``$M ingest_social ...``: without LUNARCRUSH_API_KEY (exit 1, one line) and with a key (rows written)
  8. ``$M ingest_sentiment``
  9. ``$M research [...]``: full form (``--strategies curve_wars,lending_value ...``) plus ``--report-dir``
     and speed-only overrides (see the test); the minimal form (all strategies, full budgets) is not run:
     far too slow for CI
 10. ``$M lookahead --strategy curve_wars ... [--sample 20] [--mode replay]``: minimal form (sample mode;
     replay mode is one strategy run per bar, too slow for CI)

(The block's comment-only line ``# exit 0 passed, 1 look-ahead found, ...`` belongs to line 10, not a command.)
 16. ``$M warm_numba_cache``: says the compiled code is ready (``tests/backtests/test_warm.py`` checks that a
     later process then loads it instead of compiling)

Block "Your own strategies" (one test, in order, subprocesses; its SQLite file database in tmp_path is
migrated and given the bundled BTC/ETH 1h candles of 2021-2023, the data ema_cross needs):
 11. ``$M new_strategy ema_cross [...]``: minimal form (default dir ./strategies_local, from tmp_path)
 12. ``.venv/bin/python -m pytest strategies_local/test_ema_cross.py``
 13. ``export STRATEGIES_DIR=$PWD/strategies_local``: the environment of the next two
 14. ``$M research --strategies ema_cross`` (plus ``--report-dir`` and the speed-only overrides)
 15. ``$M lookahead --strategy ema_cross --start 2022-01-01 --end 2023-01-01``

Not tested (outside those two blocks, not meant to run in a test): the quick start's ``pip install`` and
``.venv/bin/python -m pytest -n 2`` (the test suite itself), ``export DATABASE_URL=postgres://...`` and
``migrate`` on PostgreSQL (needs a server), ``qcluster`` (a long-running worker), ``createsuperuser``
(interactive), ``runserver`` (a long-running server), ``pip install -e ".[bench]"`` and the
``benchmarks/*.py`` scripts (minutes each, extra packages).

Run time: about 1.5 minutes with ``-n 2`` (each worker that gets a data test loads the bundled data once).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import Candle, OnchainMetric, SentimentIndex, SocialMetric
from tests.marketdata.sources.payloads import load_json

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYTHON = ROOT / ".venv" / "bin" / "python"
if not PYTHON.exists():  # a CI without the project venv: the running interpreter
    PYTHON = Path(sys.executable)
SAMPLE_1H = ROOT / "marketdata" / "sample_data" / "binance_spot_1h_2021_2023"
#: The bundled candles have no January 2024: the REBUILT answers use January 2023, shifted by 365 days.
SHIFT = pd.Timedelta(days=365)
JAN_2024_HOURS = 31 * 24

# ---------------------------------------------------------------------------------------------------------
# The README's lines


def _blocks() -> list[list[str]]:
    """The README's two command blocks: the one defining ``M=`` and the one with ``$M new_strategy``."""
    blocks: list[list[str]] = []
    current: list[str] = []
    inside = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if inside:
                blocks.append(current)
            current, inside = [], not inside
            continue
        if inside:
            current.append(line)
    main = [b for b in blocks if any(line.startswith('M=".venv/bin/python manage.py"') for line in b)]
    own = [b for b in blocks if any(line.startswith("$M new_strategy") for line in b)]
    assert len(main) == 1 and len(own) == 1, "README: the two command blocks are not found"
    def commands(block: list[str]) -> list[str]:  # not blank, not the M= definition, not a comment-only line
        return [line for line in block if line.strip() and not line.startswith("M=")
                and not line.lstrip().startswith("#")]

    return [commands(main[0]), commands(own[0])]


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def parse(line: str, *, full: bool = False) -> list[str]:
    """A README line -> argv: comment stripped, ``[...]`` dropped (or kept when ``full``), ``a|b`` -> ``a``."""
    text = _strip_comment(line)
    text = re.sub(r"\s*\[([^\]]*)\]", (lambda m: " " + m.group(1)) if full else "", text)
    text = re.sub(r"(\S+?)\|\S+", r"\1", text)
    return shlex.split(text)


MAIN, OWN = _blocks()


def readme_line(command: str, block: list[str] | None = None) -> str:
    block = MAIN if block is None else block
    found = [line for line in block if line.startswith(f"$M {command} ") or line.strip() == f"$M {command}"
             or _strip_comment(line) == f"$M {command}"]
    assert len(found) == 1, f"README: expected one '$M {command}' line, found {found}"
    return found[0]


def manage_args(command: str, *, full: bool = False, block: list[str] | None = None) -> list[str]:
    argv = parse(readme_line(command, block), full=full)
    assert argv[0] == "$M" and argv[1] == command
    return argv[1:]


def run(argv: list[str]) -> str:
    out = StringIO()
    call_command(*argv, stdout=out, stderr=StringIO())
    return out.getvalue()


#: Every README line of the two blocks and the test that runs it.
COVERED = {
    "$M load_sample_data": "test_load_sample_data",
    "$M ingest_ohlcv": "test_ingest_ohlcv",
    "$M import_ohlcv_csv": "test_import_ohlcv_csv",
    "$M data_quality": "test_data_quality_*",
    "$M compute_indicators": "test_compute_indicators",
    "$M ingest_onchain": "test_ingest_onchain",
    "$M ingest_social": "test_ingest_social_*",
    "$M ingest_sentiment": "test_ingest_sentiment",
    "$M warm_numba_cache": "test_warm_numba_cache",
    "$M research": "test_research / test_own_strategies_block",
    "$M lookahead": "test_lookahead / test_own_strategies_block",
    "$M new_strategy": "test_own_strategies_block",
    ".venv/bin/python -m pytest": "test_own_strategies_block",
    "export STRATEGIES_DIR=$PWD/strategies_local": "test_own_strategies_block",
}


def _key(line: str) -> str:
    words = _strip_comment(line).split()
    if words[0] == "$M":
        return " ".join(words[:2])
    if words[0] == "export":
        return words[0] + " " + words[1]
    return " ".join(words[:3])


def test_every_readme_line_is_covered():
    lines = MAIN + OWN
    assert len(lines) == 16, lines
    assert {_key(line) for line in lines} == set(COVERED)
    for line in lines:  # every line parses, both forms
        assert parse(line) and parse(line, full=True)


def test_the_parser():
    line = "$M ingest_ohlcv --symbols BTC,ETH --start 2024-01-01 [--source binance|coingecko]   # note"
    assert parse(line) == ["$M", "ingest_ohlcv", "--symbols", "BTC,ETH", "--start", "2024-01-01"]
    assert parse(line, full=True)[-2:] == ["--source", "binance"]


# ---------------------------------------------------------------------------------------------------------
# REBUILT provider answers


def _bundled_january_2023(symbol: str) -> pd.DataFrame:
    """REBUILT: the bundled real 1h candles of January 2023, times shifted +365 days (January 2024)."""
    frame = pd.read_csv(SAMPLE_1H / f"{symbol}USDT_1h.csv.gz")
    frame["open_time"] = pd.to_datetime(frame["date"], utc=True)
    frame = frame[(frame.open_time >= "2023-01-01") & (frame.open_time < "2023-02-01")].copy()
    frame["open_time"] = frame["open_time"] + SHIFT
    assert len(frame) == JAN_2024_HOURS
    return frame.reset_index(drop=True)


def _kline_rows(frame: pd.DataFrame) -> list[list]:
    """Binance's 12-field kline arrays (ms times, numbers as strings); quote volume ~ volume x close."""
    ms = (frame["open_time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return [[int(t), f"{r.open:.8f}", f"{r.high:.8f}", f"{r.low:.8f}", f"{r.close:.8f}", f"{r.volume:.8f}",
             int(t) + 3_599_999, f"{r.volume * r.close:.8f}", 0, "0", "0", "0"]
            for t, r in zip(ms, frame.itertuples(), strict=True)]


class RebuiltKlines:
    """``/api/v3/klines`` answered from the REBUILT candles: ``startTime <= open_time <= endTime``, ``limit``."""

    def __init__(self) -> None:
        self.rows = {f"{s}USDT": _kline_rows(_bundled_january_2023(s)) for s in ("BTC", "ETH")}

    def __call__(self, request):
        from werkzeug import Response

        args = request.args
        start, end = int(args.get("startTime", 0)), int(args.get("endTime", 2**62))
        rows = [r for r in self.rows.get(args["symbol"], []) if start <= r[0] <= end][: int(args.get("limit", 500))]
        return Response(json.dumps(rows), status=200, content_type="application/json")


@pytest.fixture
def offline(httpserver, settings):
    base = httpserver.url_for("").rstrip("/")
    settings.BINANCE_BASE_URL = base
    settings.COINGECKO_BASE_URL = base + "/coingecko"
    settings.DEFILLAMA_BASE_URL = base
    settings.DEFILLAMA_STABLECOINS_BASE_URL = base + "/stablecoins"
    settings.LUNARCRUSH_BASE_URL = base + "/lunarcrush"
    settings.FEAR_GREED_BASE_URL = base
    return httpserver


# ---------------------------------------------------------------------------------------------------------
# The module's database: `$M load_sample_data` itself (the minimal form: everything, with fundamentals)

_LOADED: dict[str, str] = {}


@pytest.fixture(scope="module")
def sample_db(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        _LOADED["out"] = run(manage_args("load_sample_data"))
    yield _LOADED["out"]
    with django_db_blocker.unblock():
        from marketdata.models import IndicatorValue

        for model in (IndicatorValue, Candle, OnchainMetric, SentimentIndex, SocialMetric):
            model.objects.all().delete()


@pytest.mark.django_db
def test_load_sample_data(sample_db):
    assert re.search(r"\d+ files, \d+ rows: inserted [1-9]\d*", sample_db)
    assert "fundamentals files: created" in sample_db
    assert Candle.objects.filter(source="bundled", symbol="BTC", timeframe="1h").exists()
    assert Candle.objects.filter(timeframe="1m").exists() and Candle.objects.filter(timeframe="1d").exists()
    assert OnchainMetric.objects.exists() and SentimentIndex.objects.exists()


@pytest.mark.django_db
def test_load_sample_data_again_is_idempotent(sample_db):
    """The full form (``--skip-fundamentals``) after the load: the README's "(idempotent)" holds."""
    argv = manage_args("load_sample_data", full=True)
    assert argv[-1] == "--skip-fundamentals"
    before = Candle.objects.count()

    out = run(argv)

    assert re.search(r"\d+ files, [1-9]\d* rows: inserted 0, skipped [1-9]\d*", out), out
    assert "fundamentals files" not in out
    assert Candle.objects.count() == before


# ---------------------------------------------------------------------------------------------------------
# Lines that fetch or import (their own rows; rolled back after each test)


@pytest.mark.django_db
@pytest.mark.parametrize("full", [False, True], ids=["minimal", "source-binance"])
def test_ingest_ohlcv(offline, full):
    argv = manage_args("ingest_ohlcv", full=full)
    assert ("--source" in argv) is full
    offline.expect_request("/api/v3/klines").respond_with_handler(RebuiltKlines())

    out = run(argv)

    assert f"total: fetched {2 * JAN_2024_HOURS}, inserted {2 * JAN_2024_HOURS}" in out
    for symbol in ("BTC", "ETH"):
        rows = Candle.objects.filter(symbol=symbol, timeframe="1h", open_time__gte="2024-01-01T00:00Z",
                                     open_time__lt="2024-02-01T00:00Z")
        assert rows.count() == JAN_2024_HOURS
        assert set(rows.values_list("source", flat=True)) == {"binance"}


@pytest.mark.django_db
def test_import_ohlcv_csv(tmp_path, monkeypatch):
    argv = manage_args("import_ohlcv_csv")
    name = argv[1]
    assert name == "BTCUSDT-1h-2024-01.zip"
    lines = [",".join(str(v) for v in row) for row in _kline_rows(_bundled_january_2023("BTC"))]
    with zipfile.ZipFile(tmp_path / name, "w") as archive:  # REBUILT, data.binance.vision layout: no header
        archive.writestr(name.replace(".zip", ".csv"), "\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)

    out = run(argv)

    assert f"total: {JAN_2024_HOURS} rows, inserted {JAN_2024_HOURS}, skipped 0" in out
    assert Candle.objects.filter(symbol="BTC", timeframe="1h", source="binance_csv").count() == JAN_2024_HOURS


@pytest.mark.django_db
def test_ingest_onchain(offline):
    """Minimal form: every protocol. DefiLlama has no live recording here: each endpoint answers with the
    documented shapes of tests/data/fixtures/defillama/ (*_DOCS_SHAPE.json), whatever protocol is asked."""
    payloads = {
        "protocol": load_json("defillama/protocol_aave_DOCS_SHAPE.json"),
        "chain": load_json("defillama/historicalChainTvl_DOCS_SHAPE.json"),
        "dailyFees": load_json("defillama/summary_fees_dailyFees_DOCS_SHAPE.json"),
        "dailyRevenue": load_json("defillama/summary_fees_dailyRevenue_DOCS_SHAPE.json"),
        "volume": load_json("defillama/summary_dexs_DOCS_SHAPE.json"),
        "stablecoin": load_json("defillama/stablecoin_DOCS_SHAPE.json"),
    }

    def answer(request):
        from werkzeug import Response

        path = request.path
        if path.startswith("/protocol/"):
            body = payloads["protocol"]
        elif path.startswith("/v2/historicalChainTvl/"):
            body = payloads["chain"]
        elif path.startswith("/summary/fees/"):
            body = payloads[request.args.get("dataType", "dailyFees")]
        elif path.startswith("/summary/"):
            body = payloads["volume"]
        elif path.startswith("/stablecoins/stablecoin/"):
            body = payloads["stablecoin"]
        else:
            return Response("not found", status=404)
        return Response(json.dumps(body), status=200, content_type="application/json")

    offline.expect_request(re.compile(".*")).respond_with_handler(answer)
    argv = manage_args("ingest_onchain")
    assert argv == ["ingest_onchain"]

    out = run(argv)

    # created or updated (the bundled series of the module's database may hold the same days), none failed
    total = re.search(r"on-chain: (\d+) created, (\d+) updated, \d+ unchanged, 0 of 15 protocol\(s\) failed", out)
    assert total and int(total.group(1)) + int(total.group(2)) > 0, out
    assert OnchainMetric.objects.filter(protocol="gmx").exists()


def test_ingest_social_without_a_key_exits_non_zero_with_one_line(settings):
    settings.LUNARCRUSH_API_KEY = ""
    with pytest.raises(CommandError) as raised:
        run(manage_args("ingest_social"))
    assert raised.value.returncode == 1
    message = str(raised.value)
    assert "LUNARCRUSH_API_KEY" in message and "\n" not in message.strip()


def _lunarcrush_january_2024() -> dict:
    """REBUILT: the recorded v2 DOGE payload's points from 2021-03-01, re-timed day by day to 2024-01-01.."""
    payload = copy.deepcopy(load_json("lunarcrush/v2_assets_DOGE_day365.json"))
    points = [p for p in payload["data"][0]["timeSeries"] if p["time"] >= 1614556800][:31]  # 2021-03-01
    first = int(pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    for day, point in enumerate(points):
        point["time"] = first + day * 86400
    payload["data"][0]["timeSeries"] = points
    return payload


@pytest.mark.django_db
def test_ingest_social_with_a_key_writes_rows(offline, settings):
    settings.LUNARCRUSH_API_KEY = "test-key"
    payload = _lunarcrush_january_2024()
    for coin in ("btc", "eth"):
        offline.expect_request(f"/lunarcrush/public/coins/{coin}/time-series/v2",
                               headers={"Authorization": "Bearer test-key"}).respond_with_json(payload)

    out = run(manage_args("ingest_social"))

    assert "social: 62 created, 0 updated, 0 unchanged, 0 of 2 token(s) failed" in out
    assert SocialMetric.objects.filter(token="BTC").count() == 31
    assert SocialMetric.objects.filter(token="ETH").count() == 31


def test_warm_numba_cache():
    argv = manage_args("warm_numba_cache")
    assert argv == ["warm_numba_cache"]
    out = run(argv)
    assert re.match(r"compiled code ready: \d+ functions, \d+ signatures compiled and cached, \d+ loaded", out), out


@pytest.mark.django_db
def test_ingest_sentiment(offline):
    fng = load_json("alternative_me/fng_limit0_REBUILT.json")
    offline.expect_request("/fng/", query_string={"limit": "0", "format": "json"}).respond_with_json(fng)
    argv = manage_args("ingest_sentiment")
    assert argv == ["ingest_sentiment"]

    out = run(argv)

    counts = re.search(r"fear_greed \S+\.\.\S+: (\d+) created, (\d+) updated, (\d+) unchanged", out)
    assert counts, out
    # The newest reading (still changing: time_until_update) is dropped, every completed day is stored;
    # the bundled Fear & Greed series holds the same readings: created or unchanged, by test order.
    completed = len(fng["data"]) - 1
    assert sum(int(n) for n in counts.groups()) == completed
    assert SentimentIndex.objects.count() >= completed


# ---------------------------------------------------------------------------------------------------------
# Lines on the bundled data (the module's database)


@pytest.mark.django_db
def test_data_quality_minimal(sample_db):
    argv = manage_args("data_quality")
    assert argv == ["data_quality"]
    out = run(argv)
    assert re.search(r"^BTC\s+1h\s+score", out, re.M)
    assert re.search(r"^\d+ series, \d+ rows, \d+ missing bars", out, re.M)


@pytest.mark.django_db
def test_data_quality_full_json(sample_db):
    argv = manage_args("data_quality", full=True)
    assert argv[-1] == "--json"
    report = json.loads(run(argv))
    assert {(s["symbol"], s["timeframe"]) for s in report["series"]} == {("BTC", "1h"), ("USDC", "1h")}
    assert all(0 <= s["score"] <= 1 and s["rows"] > 0 for s in report["series"])


@pytest.mark.django_db
def test_compute_indicators(sample_db):
    from marketdata.models import IndicatorValue

    # The full form (--indicators rsi,macd): the minimal form computes the whole default set on all
    # stored BTC/ETH 1h bars (2017-2026, ~2 x 75,000), about 2 minutes here: too slow for CI.
    argv = manage_args("compute_indicators", full=True)
    assert argv[-2:] == ["--indicators", "rsi,macd"]
    out = run(argv)
    inserted = re.search(r"done: (\d+) rows inserted for 2 symbol\(s\)", out)
    assert inserted and int(inserted.group(1)) > 0, out
    assert set(IndicatorValue.objects.filter(symbol="ETH").values_list("indicator", flat=True)) == {"rsi", "macd"}


@pytest.mark.django_db
def test_research(sample_db, tmp_path):
    argv = manage_args("research", full=True)
    assert argv[1:3] == ["--strategies", "curve_wars,lending_value"]
    assert "--report-dir" not in argv  # so the report is sent to tmp_path, never into the repository
    # Speed only (CI): fewer trials, Monte Carlo runs and no permutation test; argparse keeps the last value.
    argv += ["--report-dir", str(tmp_path), "--trials", "2", "--mc-iterations", "20", "--permutations", "0"]

    out = run(argv)

    assert re.search(r"^curve_wars\s", out, re.M) and re.search(r"^lending_value\s", out, re.M)
    assert "Selection for paper trading:" in out
    html = re.search(r"^Report: (.+)$", out, re.M)
    markdown = re.search(r"^Summary: (.+)$", out, re.M)
    assert html and markdown
    for path in (Path(html.group(1)), Path(markdown.group(1))):
        assert path.is_file() and path.stat().st_size > 0 and tmp_path in path.parents


@pytest.mark.django_db
def test_lookahead(sample_db):
    argv = manage_args("lookahead")
    assert argv == ["lookahead", "--strategy", "curve_wars", "--start", "2022-06-01", "--end", "2023-12-01"]
    out = run(argv)  # a found look-ahead is SystemExit(1), nothing checked a CommandError (exit 2)
    assert re.search(r"^PASSED: no look-ahead found at [1-9]\d* cuts", out, re.M), out


# ---------------------------------------------------------------------------------------------------------
# "Your own strategies": its own processes, a SQLite file database


def _sh(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


LOAD_EMA_CANDLES = """
from marketdata.csv_import import load_candle_table
from marketdata.sample import read_sample_file, sample_files
for sample in sample_files(symbols=["BTC", "ETH"], timeframes=["1h"]):
    if "2021_2023" in sample.relative_path:
        frame, _ = read_sample_file(sample)
        load_candle_table(frame, name=sample.relative_path, symbol=sample.symbol, timeframe="1h",
                          source=sample.source)
"""


def test_own_strategies_block(tmp_path):
    manage = [str(PYTHON), str(ROOT / "manage.py")]
    env = {k: v for k, v in os.environ.items() if k not in ("STRATEGIES_DIR", "DATABASE_URL")}
    env.update(DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONPATH=str(ROOT))
    env.pop("PYTEST_XDIST_WORKER", None)
    new_line, pytest_line, export_line, research_line, lookahead_line = OWN

    # $M new_strategy ema_cross (minimal form: the default folder ./strategies_local, here in tmp_path)
    argv = parse(new_line)
    assert argv[:2] == ["$M", "new_strategy"]
    done = _sh(manage + argv[1:], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "strategies_local"
    assert (folder / "ema_cross.py").is_file() and (folder / "test_ema_cross.py").is_file()

    # .venv/bin/python -m pytest strategies_local/test_ema_cross.py (from the folder holding strategies_local)
    argv = parse(pytest_line)
    assert argv[:3] == [".venv/bin/python", "-m", "pytest"]
    done = _sh([str(PYTHON), *argv[1:], "-p", "no:cacheprovider", "-q"], cwd=tmp_path,
               env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b[1-9]\d* passed\b", done.stdout) and " failed" not in done.stdout, done.stdout

    # export STRATEGIES_DIR=$PWD/strategies_local ($PWD: where the folder was written)
    name, _, value = parse(export_line)[1].partition("=")
    assert name == "STRATEGIES_DIR"
    env[name] = value.replace("$PWD", str(tmp_path))
    assert Path(env[name]) == folder

    migrate = _sh([*manage, "migrate", "--noinput"], cwd=ROOT, env=env)
    assert migrate.returncode == 0, migrate.stderr
    load = _sh([*manage, "shell", "-c", LOAD_EMA_CANDLES], cwd=ROOT, env=env)
    assert load.returncode == 0, load.stderr

    # $M research --strategies ema_cross (report into tmp_path; speed-only overrides as in test_research)
    argv = parse(research_line)
    assert argv == ["$M", "research", "--strategies", "ema_cross"]
    reports = tmp_path / "reports"
    done = _sh([*manage, *argv[1:], "--report-dir", str(reports), "--trials", "2", "--mc-iterations", "20",
                "--permutations", "0"], cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^ema_cross\s", done.stdout, re.M), done.stdout
    for label in ("Report", "Summary"):
        path = re.search(rf"^{label}: (.+)$", done.stdout, re.M)
        assert path and Path(path.group(1)).is_file() and reports in Path(path.group(1)).parents, done.stdout

    # $M lookahead --strategy ema_cross --start 2022-01-01 --end 2023-01-01
    argv = parse(lookahead_line)
    assert argv[:4] == ["$M", "lookahead", "--strategy", "ema_cross"]
    done = _sh([*manage, *argv[1:]], cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^PASSED: no look-ahead found", done.stdout, re.M), done.stdout


def test_rebuilt_candles_are_the_bundled_ones_shifted():
    """The REBUILT answers are the bundled real candles, prices unchanged, times +365 days."""
    rebuilt = _bundled_january_2023("BTC")
    with gzip.open(SAMPLE_1H / "BTCUSDT_1h.csv.gz", "rt") as handle:
        bundled = pd.read_csv(handle)
    first = bundled[bundled["date"] == "2023-01-01 00:00:00"].iloc[0]
    assert rebuilt.iloc[0]["open_time"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert rebuilt.iloc[0]["close"] == first["close"]
