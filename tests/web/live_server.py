"""Run the real `rounds serve` in a subprocess for tests: a free loopback port, a throwaway
database and secret, wait for /healthz, then stop the whole process group."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# The CLI may upgrade the database schema before it serves: health can take a while.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class LiveServer:
    """A running `rounds serve`."""

    base_url: str  # e.g. http://127.0.0.1:43127 (no trailing slash)
    host: str
    port: int
    data_dir: Path
    log_path: Path
    started_in: float  # seconds from process start to the first healthy /healthz
    process: subprocess.Popen[bytes]

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return self.base_url + path

    def log(self) -> str:
        """The server's combined stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def rounds_serve(
    data_dir: Path,
    env: dict[str, str] | None = None,
    scheme: str = "http",
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[LiveServer]:
    """Start `python -m app.cli serve` (what `rounds serve` runs) and stop it afterwards."""
    host = "127.0.0.1"
    port = free_port(host)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    child_env = {
        **os.environ,
        "ROUNDS_HOST": host,
        "ROUNDS_PORT": str(port),
        "ROUNDS_DATABASE_URL": f"sqlite:///{data_dir / 'rounds.db'}",
        "ROUNDS_SECRET_FILE": str(data_dir / "secret.key"),
        # `python -m app.cli` imports from the checkout, installed or not.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    base_url = f"{scheme}://{host}:{port}"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops any children
        )
    try:
        started_in = _wait_healthy(base_url, process, started, log_path, ssl_context)
        yield LiveServer(base_url, host, port, data_dir, log_path, started_in, process)
    finally:
        _stop(process)


def _wait_healthy(
    base_url: str,
    process: subprocess.Popen[bytes],
    started: float,
    log_path: Path,
    ssl_context: ssl.SSLContext | None,
) -> float:
    deadline = started + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"rounds serve exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(
                base_url + "/healthz",
                timeout=2,
                context=ssl_context,
            ) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)  # polling interval, not an assertion
    raise TimeoutError(f"rounds serve not healthy after {START_TIMEOUT} s:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The group id equals the leader's pid (start_new_session), valid even after it exited.
    group = process.pid
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    # Whatever is left of the group (a stuck server, any worker it started) goes now.
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)
