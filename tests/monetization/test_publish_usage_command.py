"""``tollway publish-usage`` run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.publishing import jobs, locks


def _run(world: World) -> subprocess.CompletedProcess[str]:
    settings = world.runtime.settings
    env = {**os.environ, "TOLLWAY_DATABASE__URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "tollway", "publish-usage", "--data-dir", str(settings.server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_publish_usage_command_sends_the_usage_once(world: World) -> None:
    world.policy("Pro", price="0.0004")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(hours=1))
    world.calls(sub, 2500, at=utcnow() - timedelta(minutes=1))

    first = _run(world)
    assert first.returncode == 0, first.stderr
    assert "1 metered subscriptions" in first.stdout
    assert "1 usage records sent (2500 billable calls); 0 failed" in first.stdout
    assert world.invoice(sub).total == Decimal("1.00")

    second = _run(world)
    assert second.returncode == 0, second.stderr
    assert "0 usage records sent (0 billable calls)" in second.stdout
    assert world.invoice(sub).total == Decimal("1.00")


def test_publish_usage_command_refuses_while_a_job_runs(world: World) -> None:
    assert locks.acquire(world.runtime.session_factory, jobs.LOCK, "elsewhere", timedelta(minutes=5))
    refused = _run(world)
    assert refused.returncode == 1
    assert "already running" in refused.stderr
