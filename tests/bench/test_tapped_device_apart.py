"""Where the server bench puts its processes (bench/speed_server.tapped_device_apart): the
tapped browser on a CPU of its own, the other devices' browser behind the server. Real
processes, no browser: a tree of `sleep`s stands in for Chromium's."""

import os
import subprocess
import sys
import time

import pytest

from bench.speed_server import OTHER_DEVICES, _lineage, _marked, _parents, _place, _under


def test_lineage_and_under_follow_the_process_tree() -> None:
    # 1 ─ 10 (bench) ─┬ 20 (server) ─ 21
    #                 └ 30 (driver) ─┬ 40 (tapped browser) ─ 41
    #                                └ 50 (other devices) ─ 51
    parents = {10: 1, 20: 10, 21: 20, 30: 10, 40: 30, 41: 40, 50: 30, 51: 50, 99: 1}
    assert _lineage(parents, 41) == {41, 40, 30, 10, 1}
    assert sorted(_under(parents, 10, leaving_out=20)) == [30, 40, 41, 50, 51]


def test_a_child_launched_with_the_mark_is_told_from_one_without() -> None:
    env = {**os.environ, **OTHER_DEVICES}
    with (
        subprocess.Popen(["sleep", "30"], env=env) as other,
        subprocess.Popen(["sleep", "30"]) as tapped,
    ):
        try:
            parents = _parents()
            assert parents[other.pid] == os.getpid() == parents[tapped.pid]
            assert _marked(other.pid)
            assert not _marked(tapped.pid)
        finally:
            other.kill()
            tapped.kill()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_place_keeps_every_thread_of_a_process_on_its_cpus() -> None:
    cpu = max(os.sched_getaffinity(0))
    # A process with a second thread, started before it is placed.
    script = "import threading, time; threading.Thread(target=time.sleep, args=(30,)).start()"
    with subprocess.Popen([sys.executable, "-c", script + "; time.sleep(30)"]) as child:
        try:
            deadline = time.monotonic() + 10
            while len(os.listdir(f"/proc/{child.pid}/task")) < 2:
                assert time.monotonic() < deadline, "the child never started its thread"
                time.sleep(0.05)
            _place(child.pid, {cpu})
            threads = [int(task) for task in os.listdir(f"/proc/{child.pid}/task")]
            assert len(threads) == 2
            assert all(os.sched_getaffinity(thread) == {cpu} for thread in threads)
        finally:
            child.kill()
