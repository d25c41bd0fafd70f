"""`python -m lab.apiserver --port N`: serve the emulated API (HTTPS) until interrupted.

Prints the URL on stdout once listening, and nothing else there afterwards unless `--control`
(logs go to stderr), so a script can read one line to learn where the server is. It serves
the given certificate (`--tls-*-file`) or a fresh one from its own CA; `--kubeconfig` trusts it.
`--serve-in-netns NAME:PORT` also serves at 127.0.0.1:PORT inside network namespace NAME.
`--control` obeys one command per stdin line and answers each with one stdout line (`ok` or
`error: …`); stdin closing ends the server. The commands (see `lab.apiserver.process`):
`serve-netns NAME PORT` (serve there too, now and after every outage), `dark` (an outage: no
listener, no connection, the cluster kept) and `serve` (listen again on the same ports).
"""

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import sys
from pathlib import Path

from lab.apiserver.auth import tls
from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.objects.store import DEFAULT_HISTORY
from lab.apiserver.process import DARK, OK, SERVE, SERVE_NETNS
from lab.apiserver.runner import ApiServer
from lab.netns import listening_socket

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m lab.apiserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig here")
    parser.add_argument(
        "--tls-cert-file", type=Path, help="serving certificate (PEM); default: a fresh one"
    )
    parser.add_argument("--tls-private-key-file", type=Path, help="its private key (PEM)")
    parser.add_argument(
        "--tls-ca-file", type=Path, help="the CA that signed it (PEM), put into --kubeconfig"
    )
    parser.add_argument(
        "--history", type=int, default=DEFAULT_HISTORY, help="watch events kept per resource"
    )
    parser.add_argument(
        "--serve-in-netns",
        action="append",
        default=[],
        type=parse_netns_port,
        metavar="NAME:PORT",
        help="also serve at 127.0.0.1:PORT inside this network namespace (needs root)",
    )
    parser.add_argument(
        "--control", action="store_true", help="obey commands on stdin; exit when it closes"
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    return parser.parse_args(argv)


def parse_netns_port(text: str) -> tuple[str, int]:
    """`NAME:PORT` → (NAME, PORT)."""
    name, _, port = text.rpartition(":")
    if not name or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:PORT")
    return name, int(port)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGINT/SIGTERM (or, with `--control`, until stdin closes)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    credentials = given_credentials(args)
    async with ApiServer(
        host=args.host, port=args.port, history=args.history, credentials=credentials
    ) as server:
        for name, port in args.serve_in_netns:
            await serve_in_netns(server, name, port)
        if args.kubeconfig:
            write_kubeconfig(args.kubeconfig, server.url, ca=server.ca)
        answer(server.url)
        control = asyncio.create_task(obey(server, stop)) if args.control else None
        await stop.wait()
        if control is not None:
            control.cancel()


def given_credentials(args: argparse.Namespace) -> tls.Credentials | None:
    """The certificate, key and CA from the command line, or None (all three, or none)."""
    files = (args.tls_ca_file, args.tls_cert_file, args.tls_private_key_file)
    if not any(files):
        return None
    if not all(files):
        raise SystemExit("--tls-cert-file, --tls-private-key-file and --tls-ca-file go together")
    ca, certificate, key = (Path(file).read_bytes() for file in files)
    return tls.Credentials(ca=ca, certificate=certificate, key=key)


async def serve_in_netns(server: ApiServer, namespace: str, port: int) -> None:
    """Serve at 127.0.0.1:`port` inside `namespace`, now and after every outage."""
    await server.serve_with(functools.partial(listening_socket, namespace, port=port))


async def obey(server: ApiServer, stop: asyncio.Event) -> None:
    """Run stdin's commands one by one, answering each; set `stop` when stdin closes."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            try:
                await run_command(server, line.decode().split())
            except (OSError, ValueError, RuntimeError) as error:
                logger.warning("command %r failed: %s", line, error)
                answer(f"error: {error}")
            else:
                answer(OK)
    finally:
        stop.set()  # nobody left to command us (or no stdin to read): end, never linger


async def run_command(server: ApiServer, words: list[str]) -> None:
    """One control command; raises ValueError for an unknown one."""
    match words:
        case [command, namespace, port] if command == SERVE_NETNS:
            await serve_in_netns(server, namespace, int(port))
        case [command] if command == DARK:
            await server.go_dark()
        case [command] if command == SERVE:
            await server.serve_again()
        case _:
            raise ValueError(f"unknown command {' '.join(words)!r}")


def answer(line: str) -> None:
    """One line on stdout, flushed: the URL, or a command's answer."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
