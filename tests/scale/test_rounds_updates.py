"""What an open rounds screen sends when it refreshes: little, so one server carries a ward's
every screen. Every session of a process shares one event loop, and after each save every open
rounds screen of the ward refreshes; redrawing all cards cost about 100 ms of that loop per
screen (bench/speed_server.py). Without a browser: the real shell over the Flet harness."""

import msgpack
from flet.controls.base_control import BaseControl
from flet.messaging.protocol import configure_encode_object_for_msgpack

from app.services.check_ins import record_check_in
from tests.factories import key
from tests.ui.flet_harness import Harness
from tests.ui.ward_screens import TABLET, rounds_opened, run

_encode = configure_encode_object_for_msgpack(BaseControl)
PATIENTS = 12


def count_bytes(harness: Harness) -> list[int]:
    """From now on, the size of every message the session sends to its browser."""
    sizes: list[int] = []
    send = harness.browser.send_message

    def send_and_count(message) -> None:
        sizes.append(len(msgpack.packb([message.action, message.body], default=_encode)))
        send(message)

    harness.browser.send_message = send_and_count
    return sizes


async def rounds_screen(ward) -> Harness:
    return await rounds_opened(ward.db, ward.tech.username, len(ward.patients), **TABLET)


def test_a_refresh_with_nothing_new_sends_next_to_nothing(ward):
    while len(ward.patients) < PATIENTS:
        ward.admit()

    async def scenario():
        harness = await rounds_screen(ward)
        sizes = count_bytes(harness)
        await harness.app._refresh()
        return sum(sizes)

    sent = run(scenario)
    # A redraw of every card was about 1.5 KB per patient.
    assert sent < 300, sent


def test_a_check_from_another_device_resends_only_that_patients_card(ward):
    while len(ward.patients) < PATIENTS:
        ward.admit()

    async def scenario():
        harness = await rounds_screen(ward)
        sizes = count_bytes(harness)
        # The same screen drawn from scratch, for scale.
        screen_bytes = len(msgpack.packb(harness.session.get_page_patch(), default=_encode))
        patient = ward.patients[0]
        record_check_in(
            ward.db,
            ward.nurse,
            {
                "patient_id": patient.id,
                "observed_at": ward.db.clock(),
                "location": "day_room",
                "status": "watching_tv",
                "client_key": key(),
            },
        )
        await harness.app._tick()  # the next poll sees the ward's change and refreshes
        shown = " ".join(harness.texts())
        return sum(sizes), screen_bytes, shown

    sent, screen_bytes, shown = run(scenario)
    assert "Day room · watching TV · just now" in shown
    # One card (and the list's new order), not all of them again.
    assert sent < screen_bytes / 4, (sent, screen_bytes)
