"""`metalpool-controller` / `python -m controller`: the launcher of controller/program.py.

It keeps the official Kubernetes client out of the process before kopf is imported
(k8s/lean.py), then runs the program.
"""

import sys

from k8s.lean import exclude_official_client


def main(argv: list[str] | None = None) -> int:
    """Entry point of `metalpool-controller`."""
    exclude_official_client()
    from controller import program  # noqa: PLC0415 - only now: importing it imports kopf

    return program.main(argv)


if __name__ == "__main__":
    sys.exit(main())
