"""Usage-publishing jobs: one at a time across processes, WSO2's status document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.monetization.world import World
from tollway.db.base import utcnow
from tollway.models import JobLock, UsagePublishJob
from tollway.publishing import jobs, locks


def _status(world: World) -> dict[str, str]:
    with world.tx() as session:
        return jobs.status(session)


def test_a_fresh_instance_reports_nothing_running(world: World) -> None:
    assert _status(world) == {
        "state": "COMPLETED",
        "status": "SUCCESSFUL",
        "startedTime": "0",
        "lastPublishedTime": "0",
        "lastPublsihedTime": "0",
    }


def test_a_job_runs_to_completion_and_reports_its_times(world: World) -> None:
    world.policy("Pro")
    api = world.api()
    world.monetize(api)
    sub = world.subscribe(world.app(), api)
    world.backdate(sub, timedelta(hours=1))
    world.calls(sub, 3, at=utcnow() - timedelta(minutes=1))  # settled: a job publishes up to now - 2 s
    job = jobs.start(world.svc, world.runtime.session_factory, "api")
    running = _status(world)
    assert (running["state"], running["status"]) == ("INITIATED", "INPROGRESS")
    with pytest.raises(jobs.JobBusy):
        jobs.start(world.svc, world.runtime.session_factory, "api")  # one at a time
    result = job.run()
    assert result is not None and result.calls == 3
    done = _status(world)
    assert (done["state"], done["status"]) == ("COMPLETED", "SUCCESSFUL")
    assert done["lastPublishedTime"] == done["lastPublsihedTime"] == str(int(result.until.timestamp() * 1000))
    assert int(done["startedTime"]) <= int(utcnow().timestamp() * 1000)
    assert not locks.is_held(world.runtime.session_factory, jobs.LOCK)
    jobs.start(world.svc, world.runtime.session_factory, "api").run()  # the lock was released


def test_a_dead_holder_lets_its_lease_expire_and_its_job_is_marked_interrupted(world: World) -> None:
    stale = jobs.start(world.svc, world.runtime.session_factory, "api")  # never run: its process "died"
    with world.tx() as session:
        session.execute(update(JobLock).values(expires_at=utcnow() - timedelta(seconds=1)))
    fresh = jobs.start(world.svc, world.runtime.session_factory, "schedule")
    with world.tx() as session:
        old = session.get(UsagePublishJob, stale.id)
        assert old is not None and (old.state, old.status, old.error) == (
            "COMPLETED",
            "FAILED",
            "interrupted",
        )
    fresh.run()
    assert _status(world)["status"] == "SUCCESSFUL"


def test_only_one_holder_wins_the_lock(world: World) -> None:
    factory = world.runtime.session_factory
    lease = timedelta(minutes=1)
    assert locks.acquire(factory, "x", "a", lease)
    assert not locks.acquire(factory, "x", "b", lease)
    assert locks.renew(factory, "x", "a", lease)
    assert not locks.renew(factory, "x", "b", lease)
    locks.release(factory, "x", "b")  # not the holder: no effect
    assert locks.is_held(factory, "x")
    locks.release(factory, "x", "a")
    assert locks.acquire(factory, "x", "b", lease)
