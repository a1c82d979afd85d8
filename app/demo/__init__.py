"""The demo ward: a synthetic, deterministic ward with 30 days of history, for trying Rounds."""

from app.demo.census import ACCOUNTS, DEMO_PIN, WARD_CODE, WARD_NAME
from app.demo.ward import (
    DemoAlreadyLoaded,
    DemoRefused,
    DemoSummary,
    fill_demo_ward,
)

__all__ = [
    "ACCOUNTS",
    "DEMO_PIN",
    "WARD_CODE",
    "WARD_NAME",
    "DemoAlreadyLoaded",
    "DemoRefused",
    "DemoSummary",
    "fill_demo_ward",
]
