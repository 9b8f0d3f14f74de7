"""Markers shared by test modules."""

from __future__ import annotations

import pytest

#: For tests that need committed rows (forked workers, qcluster processes, a live server). The database is emptied
#: after each such test; ``serialized_rollback`` puts back what the migrations seeded (the stress events among it)
#: before the next, so every test starts from the same database.
committed_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)
