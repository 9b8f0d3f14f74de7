"""The pure modules must not import Django (they run in workers and notebooks without it): the analytics
math, the run metrics and window evaluation, the strategy contract and strategies, the JSON/UTC helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PURE_MODULES = ["analytics.montecarlo", "analytics.overfitting", "analytics.walkforward", "analytics.optimization",
                "analytics.portfolio", "analytics.stress", "analytics.stress_scenarios",
                "analytics.lookahead", "analytics.edge", "analytics.evidence", "analytics.capacity",
                "backtests.metrics", "backtests.evaluation", "backtests.portfolio", "strategies.base",
                "strategies.examples", "strategies.registry", "strategies.disclosure", "marketdata.pointintime",
                "marketdata.quote_volume", "backtests.engine.intrabar", "backtests.engine.liquidity",
                "core.jsonsafe", "core.timeutil"]


def test_pure_analytics_modules_do_not_import_django():
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in PURE_MODULES)
        + "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))\n"
    )
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stderr
