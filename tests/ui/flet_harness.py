"""Drive real Flet controls without a browser: a Session over a fake connection.

Private Flet API (flet 1.0.5), kept in this one module. The fake connection msgpack-encodes
every message as the real WebSocket does (Flet's change detection depends on that step) and
answers the client-side calls the app makes (push_route, scroll_to) as a browser would.
"""

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flet as ft
import msgpack
from flet.controls.base_control import BaseControl
from flet.messaging.connection import Connection
from flet.messaging.protocol import MessageAction, configure_encode_object_for_msgpack
from flet.messaging.session import Session
from flet.pubsub.pubsub_hub import PubSubHub

_encode = configure_encode_object_for_msgpack(BaseControl)


class FakeBrowser(Connection):
    """The client end of one session: records messages, plays the browser's part."""

    def __init__(self, loop: asyncio.AbstractEventLoop, hub: PubSubHub) -> None:
        super().__init__()
        self.loop = loop
        self.executor = ThreadPoolExecutor(max_workers=4)
        self.pubsubhub = hub
        self.session: Session | None = None
        self.actions: list[MessageAction] = []
        self.crashes: list[str] = []
        self.page_url = "http://127.0.0.1:8550"

    def send_message(self, message) -> None:
        msgpack.packb([message.action, message.body], default=_encode)
        self.actions.append(message.action)
        if message.action == MessageAction.SESSION_CRASHED:
            self.crashes.append(str(message.body))
        if message.action == MessageAction.INVOKE_METHOD:
            self.loop.create_task(self._answer(message.body))

    async def _answer(self, call) -> None:
        session = self.session
        session.handle_invoke_method_results(call.control_id, call.call_id, None, None)
        if call.name == "push_route":
            route = call.args["route"]
            session.page.route = route
            await session.dispatch_event(session.page._i, "route_change", {"route": route})


@dataclasses.dataclass
class Harness:
    session: Session
    browser: FakeBrowser

    @property
    def page(self) -> ft.Page:
        return self.session.page

    async def click(self, control: BaseControl) -> None:
        await self.session.dispatch_event(control._i, "click", None)

    async def resize(self, width: float, height: float) -> None:
        self.page.width, self.page.height = width, height
        await self.session.dispatch_event(
            self.page._i, "resize", {"width": width, "height": height}
        )

    def controls(self) -> Iterator[BaseControl]:
        """Every control now on the page (views, dialogs, overlay)."""
        yield from walk(list(self.page.views))
        yield from walk(self.page._dialogs.controls)

    def find(self, predicate: Callable[[BaseControl], bool]) -> list[BaseControl]:
        return [control for control in self.controls() if predicate(control)]

    def texts(self) -> list[str]:
        """Every string shown by a Text, button or text field now on the page."""
        found = []
        for control in self.controls():
            for name in ("value", "label", "content", "text", "tooltip"):
                value = getattr(control, name, None)
                if isinstance(value, str) and value:
                    found.append(value)
        return found

    def by_semantics(self, label: str) -> BaseControl:
        """The control a screen reader calls `label`: wrapped in a Semantics with that label, or
        a button named by its icon's label."""
        wrappers = self.find(lambda c: _label(c) == label)
        assert wrappers, f"no control labelled {label!r}; labels: {self.labels()}"
        # What a tap on it reaches: the wrapped control, or the nearest ancestor that listens.
        parents = {}
        for control in self.controls():
            for child in _children(control):
                parents[id(child)] = control
        found = wrappers[0]
        control = found.content if isinstance(found, ft.Semantics) else found
        while control is not None and getattr(control, "on_click", None) is None:
            control = parents.get(id(control))
        assert control is not None, f"nothing handles a tap on {label!r}"
        return control

    def labels(self) -> list[str]:
        return [label for c in self.controls() if (label := _label(c))]

    def button(self, text: str) -> BaseControl:
        found = self.find(
            lambda c: (
                isinstance(c, ft.Button | ft.FilledButton | ft.TextButton)
                and (c.content == text or getattr(c.content, "value", None) == text)
            )
        )
        assert found, f"no button {text!r}"
        return found[0]

    async def until(self, condition: Callable[[], Any], timeout: float = 5.0) -> None:
        """Let background work run until `condition()` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert loop.time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.02)


def _label(control: BaseControl) -> str | None:
    """What a screen reader calls a control: a Semantics label, or an icon's (its button's)."""
    if isinstance(control, ft.Semantics):
        return control.label
    if isinstance(control, ft.Icon):
        return control.semantics_label
    return None


def _children(control: BaseControl) -> Iterator[BaseControl]:
    for field in dataclasses.fields(control):
        if field.name.startswith("_") or field.name in ("parent", "page"):
            continue
        value = getattr(control, field.name, None)
        if isinstance(value, BaseControl):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, BaseControl))


def walk(items) -> Iterator[BaseControl]:
    for item in items:
        if isinstance(item, BaseControl):
            yield item
            yield from walk(list(_children(item)))


async def start(
    main,
    *,
    width: float = 390,
    height: float = 844,
    route: str = "/",
    hub: PubSubHub | None = None,
) -> Harness:
    """A new session of `main`, as a phone-sized browser would open it (sessions of one
    server process share `hub`)."""
    loop = asyncio.get_running_loop()
    hub = hub or PubSubHub(loop=loop, executor=None)
    browser = FakeBrowser(loop, hub)
    session = Session(browser)
    browser.session = session
    session.page.width, session.page.height, session.page.route = width, height, route
    # The register-client answer: the first full page patch, which indexes the page's tree
    # (client calls such as scroll_to are answered only for indexed controls).
    # Encoded like every message: the encoder takes the snapshots later diffs compare with.
    msgpack.packb(session.get_page_patch(), default=_encode)
    await main(session.page)
    await session.after_event(session.page)
    return Harness(session, browser)
