"""What an import costs in memory: each module in a fresh interpreter, against a bare one.

Rule: one child per measurement, `python -c "import X"` and then the child reports its own
/proc/self/status and smaps_rollup (open() is a builtin: reading them imports nothing), so no
import of the parent's leaks in. Each is measured ROUNDS times and the median kept. The parsing
and arithmetic are bench.footprint_figures'; no lab, no root.
"""

import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.footprint_figures import Memory, ratio, rollup_memory, status_rss

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "kopf",
    "kubernetes",
    "scapy.all",
    "scapy.layers.l2",
    "prometheus_client",
    "controller.__main__",
    "speaker.__main__",
)
ROUNDS = 3
SEPARATOR = "--- smaps_rollup ---"
REPORT = (
    "import sys;"
    "sys.stdout.write(open('/proc/self/status').read());"
    f"sys.stdout.write('{SEPARATOR}\\n');"
    "sys.stdout.write(open('/proc/self/smaps_rollup').read())"
)


@dataclass(frozen=True, slots=True)
class ImportCost:
    """One module: the whole interpreter after importing it, and what it adds to a bare one."""

    module: str  # "" for the bare interpreter
    memory: Memory
    added: float  # RSS over the bare interpreter's, MiB


def parse_report(text: str) -> Memory:
    """The child's status (RSS) and smaps_rollup (PSS, USS), as it printed them."""
    status, _, rollup = text.partition(SEPARATOR)
    found = rollup_memory(rollup)
    return Memory(rss=status_rss(status), pss=found.pss, uss=found.uss)


def measure_once(module: str) -> Memory:
    """One fresh interpreter importing `module` (nothing for ""), from the repository root."""
    code = (f"import {module};" if module else "") + REPORT
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own one-liner
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"  ! import {module} failed: {done.stderr.strip().splitlines()[-1:]}")
        return Memory(math.nan, math.nan, math.nan)
    return parse_report(done.stdout)


def median_memory(samples: list[Memory]) -> Memory:
    """The median of each figure (NaN if any sample is NaN)."""

    def middle(values: list[float]) -> float:
        return math.nan if any(math.isnan(v) for v in values) else statistics.median(values)

    return Memory(
        rss=middle([s.rss for s in samples]),
        pss=middle([s.pss for s in samples]),
        uss=middle([s.uss for s in samples]),
    )


def measure(modules: tuple[str, ...] = MODULES, rounds: int = ROUNDS) -> list[ImportCost]:
    """The bare interpreter first, then each module; each the median of `rounds` runs."""
    bare = median_memory([measure_once("") for _ in range(rounds)])
    costs = [ImportCost("", bare, 0.0)]
    for module in modules:
        memory = median_memory([measure_once(module) for _ in range(rounds)])
        costs.append(ImportCost(module, memory, memory.rss - bare.rss))
    return costs


def table(costs: list[ImportCost]) -> list[str]:
    """The import-cost table: RSS, PSS, USS, added RSS and the ratio to the bare interpreter."""
    bare = costs[0].memory.rss
    lines = [f"  {'python -c':<28} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8} "
             f"{'+RSS MiB':>9} {'x bare':>7}"]  # fmt: skip
    for cost in costs:
        memory = cost.memory
        label = f"import {cost.module}" if cost.module else "(bare interpreter)"
        lines.append(
            f"  {label:<28} {memory.rss:>8.1f} {memory.pss:>8.1f} {memory.uss:>8.1f} "
            f"{cost.added:>9.1f} {ratio(memory.rss, bare):>7.1f}"
        )
    return lines
