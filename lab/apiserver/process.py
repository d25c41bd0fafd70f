"""The emulated API server as a child process that a lab can freeze, take dark and bring back.

Shell. `ApiServerProcess` starts `python -m lab.apiserver --control` and drives it over its
stdin: one command line, one answer line (the words are defined here, the child obeys them in
`lab.apiserver.__main__`). Freezing is SIGSTOP/SIGCONT of that one PID: the kernel still
accepts connections and nobody answers, as with a hung kube-apiserver. Rule: every wait is
bounded, and only the child started here is ever signalled, by its PID.

    server = ApiServerProcess(log=workdir / "apiserver.log")
    server.start()                          # server.url, server.pid
    server.serve_netns("mp-1-node-1", 6443) # 127.0.0.1:6443 inside that namespace too
    server.freeze(); server.thaw()          # SIGSTOP / SIGCONT
    server.go_dark(); server.serve()        # an outage, and the end of it (the cluster kept)
    server.stop()
"""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from lab.apiserver.auth import tls
from lab.apiserver.objects.store import DEFAULT_HISTORY

SERVE_NETNS = "serve-netns"
DARK = "dark"
SERVE = "serve"
OK = "ok"
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
ANSWER_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class ApiServerProcess:
    """`python -m lab.apiserver --control` as a child; `stop` ends it (also when frozen)."""

    def __init__(self, *, log: Path, history: int = DEFAULT_HISTORY) -> None:
        self.log = log
        self.credentials = tls.credentials()  # given to the child, so kubeconfigs made here hold
        self.history = history
        self.url = ""
        self.frozen = False
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    @property
    def pid(self) -> int:
        """The server's PID (it runs `python` directly, no wrapper)."""
        return self._started().pid

    def start(self) -> None:
        """Start the child and wait for its URL line."""
        argv = [sys.executable, "-m", "lab.apiserver", "--control", "--history",
                str(self.history), "--log-level", "INFO", *self._tls_flags()]  # fmt: skip
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own module
                argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
        try:
            self.url = self._read_line(START_TIMEOUT)
        except RuntimeError:
            self.stop()
            raise

    @property
    def ca(self) -> bytes:
        """The PEM CA certificate clients must trust (kubeconfig certificate-authority-data)."""
        return self.credentials.ca

    def _tls_flags(self) -> list[str]:
        return tls.server_flags(self.log.parent / "apiserver-tls", self.credentials)

    def serve_netns(self, namespace: str, port: int) -> None:
        """Also serve at 127.0.0.1:`port` inside network namespace `namespace` (from now on)."""
        self._command(SERVE_NETNS, namespace, str(port))

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel but never answered."""
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: it answers again, everything it accepted meanwhile included."""
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def go_dark(self) -> None:
        """An outage: connections refused, open ones (watches too) closed; the cluster kept."""
        self._command(DARK)

    def serve(self) -> None:
        """End the outage: listen again on the same host port and the same namespace ports."""
        self._command(SERVE)

    def stop(self) -> None:
        """End the child: thawed, stdin closed (it exits), SIGTERM then SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self.thaw()
            assert process.stdin is not None  # noqa: S101 - a pipe since start
            process.stdin.close()
            for stopper in (process.terminate, process.kill):
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                    break
                except subprocess.TimeoutExpired:
                    stopper()
            process.wait(timeout=STOP_TIMEOUT)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        self._process = None

    def _command(self, *words: str) -> None:
        if self.frozen:
            raise RuntimeError("the API server is frozen: thaw it first")
        stdin = self._started().stdin
        assert stdin is not None  # noqa: S101 - a pipe since start
        stdin.write(" ".join(words).encode() + b"\n")
        stdin.flush()
        reply = self._read_line(ANSWER_TIMEOUT)
        if reply != OK:
            raise RuntimeError(f"the API server refused {' '.join(words)!r}: {reply}")

    def _read_line(self, timeout: float) -> str:
        stdout = self._started().stdout
        assert stdout is not None  # noqa: S101 - a pipe since start
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the API server did not answer in {timeout} s; see {self.log}")
            if select.select([stdout], [], [], remaining)[0]:
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"the API server exited; see {self.log}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode().strip()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the API server process is not running")
        return self._process

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
