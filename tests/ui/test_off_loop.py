"""Service calls run in worker threads (app/ui/context.off_loop), and slow ones are logged with
how long they waited for a thread, so a screen that stayed empty can be explained from the log."""

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.ui import context
from app.ui.context import off_loop
from tests.ui.ward_screens import run


def nap(seconds: float) -> int:
    time.sleep(seconds)
    return threading.get_ident()


def refuse() -> None:
    raise ValueError("refused in the worker")


def test_a_call_runs_in_a_worker_thread_and_returns_its_answer() -> None:
    async def scenario() -> tuple[int, int]:
        return threading.get_ident(), await off_loop(nap, 0)

    loop_thread, worker_thread = run(scenario)
    assert worker_thread != loop_thread


def test_a_failure_in_the_worker_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="refused in the worker"):
        run(lambda: off_loop(refuse))


def test_a_quick_call_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=context.__name__):
        run(lambda: off_loop(nap, 0))
    assert caplog.records == []


def test_a_slow_call_is_logged_with_its_name_and_time(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "SLOW_CALL_SECONDS", 0.05)
    with caplog.at_level(logging.WARNING, logger=context.__name__):
        run(lambda: off_loop(nap, 0.1))
    [record] = caplog.records
    assert "slow service call nap" in record.getMessage()
    assert "0.0 s waiting for a worker thread" in record.getMessage()


def test_waiting_for_a_busy_thread_pool_is_told_apart(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "SLOW_CALL_SECONDS", 0.2)

    async def scenario() -> None:
        # One worker thread, held by a long call: the second call waits its turn.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        await asyncio.gather(off_loop(nap, 0.4), off_loop(nap, 0))

    with caplog.at_level(logging.WARNING, logger=context.__name__):
        run(scenario)
    messages = [record.getMessage() for record in caplog.records]
    waits = sorted(float(message.split("of which ")[1].split(" s")[0]) for message in messages)
    assert len(waits) == 2
    assert waits[0] == 0.0  # the long call got its thread at once
    assert waits[1] >= 0.3  # the quick one waited for it
