"""What both benchmarks share: the real server as a subprocess, databases, a keep-alive client.

Servers run on 127.0.0.1 on a free port and are stopped by their PID. PostgreSQL comes from the
test fixtures (``tests/fixtures/servers.py``) with fsync ON, so every figure is durable.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.fixtures lives beside src/, not inside the package
    sys.path.insert(0, str(ROOT))

from tests.fixtures.servers import free_port, postgres_server  # noqa: E402

BACKENDS = ("sqlite", "postgresql")
API = "/api/v1"
# The line of a traceback that names the exception: "asyncpg.exceptions.DeadlockDetectedError: …"
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b", re.M)


def shopfloor_cli() -> str:
    beside = Path(sys.executable).parent / "shopfloor"
    found = str(beside) if beside.exists() else shutil.which("shopfloor")
    if not found:
        raise FileNotFoundError("the shopfloor command is not installed in this environment")
    return found


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def revision() -> str:
    """The commit measured, and whether src/ differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "src")
    return f"{commit}{' with uncommitted changes in src/' if dirty else ''}"


def banner(title: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# {title}\n{stamp} — {machine()} — shopfloor at {revision()}\n", flush=True)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


@dataclass
class Database:
    """A migrated, empty database: ``url`` is None for the default SQLite file of data_dir."""

    backend: str
    data_dir: Path
    url: str | None
    server_pid: int | None = None  # the PostgreSQL postmaster, parent of every backend

    @property
    def env(self) -> dict[str, str]:
        env = {
            "SHOPFLOOR_DATA_DIR": str(self.data_dir),
            "SHOPFLOOR_LOG_LEVEL": "WARNING",
            # One sign-in lasts the whole run.
            "SHOPFLOOR_ACCESS_TOKEN_TTL_S": "86400",
        }
        if self.url:
            env["SHOPFLOOR_DATABASE_URL"] = self.url
        return env

    @property
    def sqlalchemy_url(self) -> str:
        return self.url or f"sqlite+aiosqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "shopfloor.db"

    @property
    def asyncpg_dsn(self) -> str:
        assert self.url is not None
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.contextmanager
def database(backend: str, name: str) -> Iterator[Database]:
    """A fresh database of ``backend``, migrated with ``shopfloor db upgrade``."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"shopfloor-bench-{name}-"))
    try:
        if backend == "sqlite":
            db = Database(backend, data_dir, None)
            _upgrade(db)
            yield db
            return
        with postgres_server(fsync=True) as server:
            db = Database(backend, data_dir, server.create_database(name), server.pid)
            _upgrade(db)
            yield db
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


BENCH_USER, BENCH_PASSWORD = "bench", "quick-silver-ledger-4711"


def _upgrade(db: Database) -> None:
    """Migrates the database and creates the admin the benchmark clients sign in as."""
    for command, stdin in (
        (["db", "upgrade"], None),
        (["users", "create", BENCH_USER, "--role", "admin", "--password-stdin"], BENCH_PASSWORD),
    ):
        done = subprocess.run(
            [shopfloor_cli(), *command],
            env={**os.environ, **db.env},
            input=None if stdin is None else f"{stdin}\n".encode(),
            capture_output=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"shopfloor {' '.join(command)}: {done.stderr.decode()[-2000:]}")


def sign_in(port: int) -> str:
    probe = Client(port)
    try:
        status, body = probe.request(
            "POST",
            f"{API}/auth/token",
            f"username={BENCH_USER}&password={BENCH_PASSWORD}".encode(),
            content_type="application/x-www-form-urlencoded",
        )
    finally:
        probe.close()
    if status != 200:
        raise RuntimeError(f"sign-in answered {status}: {body[:300]!r}")
    return str(orjson.loads(body)["access_token"])


@dataclass
class Server:
    port: int
    pid: int
    log_path: Path
    token: str = ""  # an admin's bearer token

    def client(self) -> Client:
        return Client(self.port, self.token)

    def errors(self) -> Counter[str]:
        """Exceptions the server logged so far, by type (from the JSON log's tracebacks)."""
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = orjson.loads(line)
                if isinstance(record, dict) and record.get("exception"):
                    names = EXCEPTION_LINE.findall(str(record["exception"]))
                    found[names[-1] if names else "unknown"] += 1
        return found


@contextlib.contextmanager
def serve(
    db: Database, *, pipeline: bool = False, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``shopfloor serve`` on a free port, ready when it yields, stopped by PID afterwards.

    Without ``pipeline`` the stages stay out of the server (``--no-pipeline``, as in a plant
    where workers run them); the outbox relay still publishes every accepted batch. ``env``
    adds settings (``SHOPFLOOR_BUS_URL``, …) to the database's.
    """
    port = free_port()
    log_path = db.data_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                shopfloor_cli(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *([] if pipeline else ["--no-pipeline"]),
            ],
            env={**os.environ, **db.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(port, process, log_path)
            yield Server(port, process.pid, log_path, sign_in(port))
        except BaseException:
            print(f"--- server log (tail) ---\n{log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the PID (the process drains), SIGKILL if it has not exited after 30 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def workers(db: Database, count: int, env: dict[str, str] | None = None) -> Iterator[list[int]]:
    """``count`` x ``shopfloor worker`` (the pipeline stages alone); yields their PIDs at once
    (a worker is ready when it consumes: wait for a message to get through), stops them by PID."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            with open(db.data_dir / f"worker-{index}.log", "ab") as log:
                processes.append(
                    subprocess.Popen(
                        [shopfloor_cli(), "worker"],
                        env={**os.environ, **db.env, **(env or {})},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            _stop(process)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shopfloor serve exited:\n{log_path.read_text()[-3000:]}")
        probe = Client(port)
        with contextlib.suppress(OSError, http.client.HTTPException):
            if probe.get("/health/ready")[0] == 200:
                return
        probe.close()
        time.sleep(0.1)
    raise TimeoutError(f"shopfloor serve was not ready:\n{log_path.read_text()[-3000:]}")


class Client:
    """One keep-alive HTTP/1.1 connection; the thinnest client the standard library has."""

    def __init__(self, port: int, token: str = "") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def connect(self) -> None:
        self.connection.connect()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """Send once more on a fresh connection if the server closed an idle one (keep-alive
        timeout); every request the benchmarks send is safe to repeat."""
        headers = {**self.auth, **({"Content-Type": content_type} if body is not None else {})}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        return response.status, response.read()

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def post_json(self, path: str, document: Any, expect: int = 201) -> Any:
        status, body = self.request("POST", path, orjson.dumps(document))
        if status != expect:
            raise RuntimeError(f"POST {path} answered {status}: {body[:500]!r}")
        return orjson.loads(body)

    def close(self) -> None:
        self.connection.close()


def create_sensors(
    client: Client, count: int, per_machine: int = 10, fields: dict[str, Any] | None = None
) -> dict[str, int]:
    """A site with machines and ``count`` sensors (with ``fields``, e.g. limits), created
    through the API: path -> id."""
    client.post_json(f"{API}/assets", {"path": "bench", "kind": "site"})
    ids: dict[str, int] = {}
    for index in range(count):
        machine_path = f"bench/m-{index // per_machine:03d}"
        if index % per_machine == 0:
            client.post_json(f"{API}/assets", {"path": machine_path, "kind": "machine"})
        path = f"{machine_path}/s-{index:04d}"
        ids[path] = client.post_json(f"{API}/sensors", {"path": path, **(fields or {})})["id"]
    return ids
