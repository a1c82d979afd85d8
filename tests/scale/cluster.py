"""A hospital on loopback: one PostgreSQL database, two `rounds serve` processes, nginx in front.

`nginx_front` renders deploy/nginx/rounds-loopback.conf (the same maps and proxying as the
production deploy/nginx/rounds.conf, by the same included files) and runs nginx in the
foreground under the test; `node_of` reads nginx's access log to say which process served a
browser.
"""

import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.web.live_server import REPO_ROOT, LiveServer, free_port

NGINX = Path("/usr/sbin/nginx")
NGINX_CONF_DIR = REPO_ROOT / "deploy" / "nginx"
START_TIMEOUT = 15.0

# One line per request: which node the cookie asked for and which process answered.
_LOG_FORMAT = (
    "log_format rounds_scale '$request_uri status=$status cookie=$cookie_rounds_node "
    "upstream=$upstream_addr node=$rounds_node';"
)


@dataclass(frozen=True)
class NginxFront:
    """nginx on loopback in front of the Rounds processes."""

    base_url: str
    host: str
    port: int
    run_dir: Path
    nodes: dict[str, LiveServer]  # cookie value ("1", "2") -> process
    process: subprocess.Popen[bytes]

    def url(self, path: str = "/") -> str:
        """An absolute URL through nginx."""
        return self.base_url + path

    def access_log(self) -> list[str]:
        """nginx's access log lines so far."""
        path = self.run_dir / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def node_of(self, cookie: str) -> LiveServer:
        """The process a browser holding `rounds_node=cookie` is sent to (while it is up)."""
        return self.nodes[cookie]


def render_loopback_conf(listen_port: int, nodes: list[str]) -> str:
    """deploy/nginx/rounds-loopback.conf with the listen port and the two nodes filled in."""
    template = (NGINX_CONF_DIR / "rounds-loopback.conf").read_text()
    values = {"@LISTEN_PORT@": str(listen_port)}
    for number, node in enumerate(nodes, start=1):
        values[f"@NODE_{number}_RE@"] = re.escape(node)
        values[f"@NODE_{number}@"] = node
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    left = re.findall(r"@[A-Z_0-9]+@", template)
    assert not left, f"placeholders not filled in: {left}"
    return template


def main_conf(run_dir: Path, site: str) -> str:
    """A whole nginx.conf for a foreground nginx whose files all live in run_dir."""
    # As root the workers would switch to `nobody`, who cannot write pytest's private temp
    # folders; in a test they may as well stay the user that started them.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = run_dir / "temp"
    return (
        f"{user}worker_processes 1;\n"
        f"pid {run_dir / 'nginx.pid'};\n"
        f"error_log {run_dir / 'error.log'} info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    {_LOG_FORMAT}\n"
        f"    access_log {run_dir / 'access.log'} rounds_scale;\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        f"    include {site};\n"
        "}\n"
    )


def prepare_conf(run_dir: Path, site_text: str, site_name: str = "site.conf") -> Path:
    """Write nginx.conf, the site and a copy of deploy/nginx/ (as rounds/) into run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "temp").mkdir(exist_ok=True)
    # Relative includes ("rounds/rounds-maps.conf") resolve against nginx.conf's folder, as
    # they do against /etc/nginx in production.
    shutil.copytree(NGINX_CONF_DIR, run_dir / "rounds", dirs_exist_ok=True)
    (run_dir / site_name).write_text(site_text)
    conf = run_dir / "nginx.conf"
    conf.write_text(main_conf(run_dir, site_name))
    return conf


def nginx_check(conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a configuration: exit status 0 when nginx accepts it."""
    return subprocess.run(
        [str(NGINX), "-t", "-p", str(conf.parent), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def render_https_conf(https_port: int, http_port: int, nodes: list[str], tls_dir: Path) -> str:
    """The production deploy/nginx/rounds.conf on loopback ports, nodes and certificates."""
    text = (NGINX_CONF_DIR / "rounds.conf").read_text()
    assert "listen 443 ssl http2;" in text and "listen 80;" in text, "rounds.conf changed shape"
    lines = [line for line in text.splitlines() if "listen [::]" not in line]
    text = "\n".join(lines) + "\n"
    values = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/rounds/tls/": f"{tls_dir}/",
    }
    for number, node in enumerate(nodes, start=1):
        production = f"127.0.0.1:{8550 + number}"
        values[re.escape(production)] = re.escape(node)  # the map's regular expressions
        values[production] = node
    # Through tokens first, so a value can never be mistaken for another production string.
    for number, old in enumerate(values):
        assert old in text, f"{old!r} not in rounds.conf"
        text = text.replace(old, f"@{number}@")
    for number, new in enumerate(values.values()):
        text = text.replace(f"@{number}@", new)
    return text


@contextmanager
def nginx_running(
    run_dir: Path, site: str, health_url: str, ssl_context: ssl.SSLContext | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground on a rendered site, until the block ends."""
    conf = prepare_conf(run_dir, site)
    checked = nginx_check(conf)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [str(NGINX), "-p", str(run_dir), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(run_dir / "stderr.log").open("wb"),
        start_new_session=True,
    )
    try:
        _wait_answering(process, health_url, run_dir, ssl_context)
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # nginx: fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def nginx_front(nodes: list[LiveServer], run_dir: Path | None = None) -> Iterator[NginxFront]:
    """nginx on a free loopback port in front of two Rounds processes, stopped afterwards."""
    assert len(nodes) == 2, "rounds-loopback.conf names two processes"
    owned = run_dir is None
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="rounds-nginx-"))
    host = "127.0.0.1"
    port = free_port(host)
    site = render_loopback_conf(port, [f"{node.host}:{node.port}" for node in nodes])
    base_url = f"http://{host}:{port}"
    try:
        with nginx_running(run_dir, site, base_url + "/healthz") as process:
            yield NginxFront(
                base_url,
                host,
                port,
                run_dir,
                {str(number): node for number, node in enumerate(nodes, start=1)},
                process,
            )
    finally:
        if owned:
            shutil.rmtree(run_dir, ignore_errors=True)


def _wait_answering(
    process: subprocess.Popen[bytes],
    health_url: str,
    run_dir: Path,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    errors = run_dir / "error.log"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{errors.read_text()}")
        try:
            with urllib.request.urlopen(health_url, timeout=2, context=ssl_context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)  # polling interval, not an assertion
    raise TimeoutError(f"nginx not answering after {START_TIMEOUT} s:\n{errors.read_text()}")
