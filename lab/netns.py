"""Sockets inside network namespaces, opened from a process that stays in the host namespace.

Shell. Linux keeps the network namespace per thread, and a socket belongs for life to the
namespace it was created in. So a short-lived thread enters a namespace (setns), opens and
binds a listening socket there, and exits; the socket keeps serving that namespace from
any thread. This is how the lab's API server process (`serve-netns`, `lab.apiserver.process`)
is reachable at 127.0.0.1 inside every node namespace without a single interface added to the
host; after an outage it opens a fresh one the same way.
"""

import ctypes
import ctypes.util
import os
import socket
import threading
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def listening_socket(namespace: str, host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket listening on host:port inside `namespace` (an `ip netns` name)."""
    result: list[socket.socket | BaseException] = []

    def open_inside() -> None:
        try:
            with (NETNS_DIR / namespace).open() as handle:
                _setns(handle.fileno())
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
            result.append(sock)
        except OSError as error:
            result.append(error)

    # The thread ends in the namespace it entered; it only ever opens this one socket.
    thread = threading.Thread(target=open_inside, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
