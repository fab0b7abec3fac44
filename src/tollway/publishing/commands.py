"""``tollway publish-usage``: the usage-publishing job from the command line, with a progress bar."""

from __future__ import annotations

from typing import Any

import click

from tollway.config import Settings
from tollway.db import migrate
from tollway.monetization.service import MonetizationService
from tollway.publishing import jobs
from tollway.publishing.usage_publisher import PublishResult
from tollway.runtime import Runtime


def publish_usage_now(settings: Settings) -> PublishResult:
    """Run one job in the foreground; ClickException if another is running or the schema is missing."""
    runtime = Runtime.create(settings)
    try:
        if migrate.current_revision(runtime.engine) is None:
            raise click.ClickException(
                "the database has no Tollway schema yet: start `tollway serve` or run `tollway db upgrade`"
            )
        svc = MonetizationService(runtime)
        try:
            job = jobs.start(svc, runtime.session_factory, "cli")
        except jobs.JobBusy:
            raise click.ClickException("a usage-publishing job is already running; try again later") from None
        bar: Any = None

        def on_total(total: int) -> None:
            nonlocal bar
            bar = click.progressbar(length=total, label="Publishing usage", show_pos=True)
            bar.__enter__()

        def progress(done: int) -> None:
            if bar is not None:
                bar.update(done)

        try:
            result = job.run(on_total=on_total, progress=progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        if result is None:
            raise click.ClickException("the usage-publishing job failed; see the log")
        return result
    finally:
        runtime.close()


def report(result: PublishResult) -> str:
    lines = [
        f"{result.subscriptions} metered subscriptions, usage up to {result.until:%Y-%m-%d %H:%M:%S} UTC",
        f"{result.records} usage records sent ({result.calls} billable calls); {result.failed} failed",
    ]
    lines.extend(f"  failed: {error}" for error in result.errors[:20])
    return "\n".join(lines)
