"""The queue workers report what they do; everything else stays at warnings by default."""

from __future__ import annotations

import logging


def test_qcluster_messages_reach_the_console_by_default():
    assert logging.getLogger("django-q").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("django-q").isEnabledFor(logging.INFO)  # "Q Cluster ... running", tasks processed
    assert logging.getLogger("marketdata").getEffectiveLevel() == logging.WARNING
