"""``manage.py warm_numba_cache``: compile the engine's numba code once into numba's on-disk cache.

Every later process of this checkout (tests, queue workers, requests, research) loads it in about half a
second instead of compiling for 14-16 s. The README's quick start and ``.ci/run`` run it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from backtests.warm import warm


class Command(BaseCommand):
    help = "Compile the engine's numba functions into numba's on-disk cache (later processes load them)."

    def handle(self, *args, **options):
        self.stdout.write(str(warm()))
