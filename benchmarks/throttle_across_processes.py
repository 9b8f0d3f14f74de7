"""Does the write throttle hold across worker processes? Two processes (as two gunicorn workers would be) each
send 20 POSTs to ``/api/v1/backtesting/data-quality`` for the same user with ``API_WRITE_THROTTLE=10/min``.

Prints the accepted count with the configured shared cache (the database table here; Redis when REDIS_URL is
set) beside the reference measured in the same run with a per-process memory cache (the old behaviour).

    .venv/bin/python benchmarks/throttle_across_processes.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTS_PER_WORKER = 20

WORKER = """
import os, django
django.setup()
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient
from django.contrib.auth import get_user_model
caches = None
if os.environ["CACHE_MODE"] == "memory":
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
def run():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username="bench"))
    codes = [client.post("/api/v1/backtesting/data-quality", {}, format="json").status_code for _ in range(POSTS)]
    print(sum(code == 202 for code in codes))
if caches:
    with override_settings(CACHES=caches):
        run()
else:
    run()
""".replace("POSTS", str(POSTS_PER_WORKER))


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="throttle-bench-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "DJANGO_DEBUG": "1",
           "API_WRITE_THROTTLE": "10/min", "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT),
           "DJANGO_ALLOWED_HOSTS": "testserver"}
    env.pop("REDIS_URL", None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "shell", "--no-imports", "-c",
                    "from django.contrib.auth import get_user_model; "
                    "get_user_model().objects.create_user('bench', is_staff=True)"], cwd=ROOT, env=env, check=True)
    for mode in ("memory", "shared"):
        subprocess.run([python, "manage.py", "shell", "--no-imports", "-c",
                        "from django.core.cache import cache; cache.clear()"], cwd=ROOT, env=env, check=True)
        workers = [subprocess.Popen([python, "-c", WORKER], cwd=ROOT, env={**env, "CACHE_MODE": mode},
                                    stdout=subprocess.PIPE, text=True) for _ in range(2)]
        accepted = [int(worker.communicate()[0].strip().splitlines()[-1]) for worker in workers]
        label = "per-process memory cache (reference)" if mode == "memory" else "shared cache (configured)"
        print(f"{label:40} accepted {sum(accepted):>2} of {2 * POSTS_PER_WORKER} POSTs "
              f"(workers: {accepted[0]} + {accepted[1]}; limit 10/min)")


if __name__ == "__main__":
    main()
