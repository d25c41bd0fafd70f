"""`python -m lab.apiserver --port N`: serve the emulated API until interrupted.

Prints the URL on stdout once listening, and nothing else there afterwards (logs go to stderr),
so a script can read one line to learn where the server is.
"""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServer
from lab.apiserver.store import DEFAULT_HISTORY


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m lab.apiserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig here")
    parser.add_argument(
        "--history", type=int, default=DEFAULT_HISTORY, help="watch events kept per resource"
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with ApiServer(host=args.host, port=args.port, history=args.history) as server:
        if args.kubeconfig:
            write_kubeconfig(args.kubeconfig, server.url)
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
