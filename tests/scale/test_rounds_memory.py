"""What an open rounds screen keeps in the server's memory. Every control of every session
lives there (Flet's web mode), and the hospital sizes a server by sessions (bench/speed_server.py:
1 MB or less per session on a 20-patient ward). Without a browser: the real shell over the Flet
harness, measured with tracemalloc, which counts Python objects only and is steadier than RSS."""

import gc
import tracemalloc

from tests.ui.flet_harness import Harness
from tests.ui.ward_screens import PHONE, rounds_opened, run

PATIENTS = 20
MEASURED_SESSIONS = 3
# Per session on this ward: about 780 KiB before the cards were slimmed and frozen, about 470
# KiB after, about 390 without Flet's set of reported errors on every control
# (app/ui/flet_tuning.py); a screen that went back to a snapshot per control would be about 550.
BUDGET_KIB = 480


async def rounds_screen(ward) -> Harness:
    return await rounds_opened(ward.db, ward.tech.username, len(ward.patients), **PHONE)


def test_an_open_rounds_screen_keeps_little_in_the_servers_memory(ward):
    while len(ward.patients) < PATIENTS:
        ward.admit()

    async def scenario():
        # The first session pays for one-time imports and caches, as on the server.
        sessions = [await rounds_screen(ward)]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(MEASURED_SESSIONS):
                sessions.append(await rounds_screen(ward))
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(sessions) == MEASURED_SESSIONS + 1  # all still open when measured
        return (after - before) / MEASURED_SESSIONS / 1024

    per_session_kib = run(scenario)
    assert per_session_kib < BUDGET_KIB, f"{per_session_kib:.0f} KiB per session"
