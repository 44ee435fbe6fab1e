"""Reporting for the benchmarks: the machine a run was on, and JSON, Markdown and RST output.

Shared by the main job (:mod:`sk_eegm2.benchmark`) and the scaling benchmark
(``benchmarks/scaling.py``), so that both record the same facts about the machine and
write their tables alike.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ._version import __version__

#: Libraries whose versions a report records (those importable here).
LIBRARIES = ("torch", "numpy", "sklearn", "skorch", "mne", "mamba_ssm")


def machine_info() -> dict[str, Any]:
    """What a run was on: CPU, cores, threads, memory, GPU, Python and library versions.

    Returns
    -------
    dict
        ``date`` (UTC, ISO 8601), ``cpu``, ``cores`` (logical CPUs), ``torch_threads``,
        ``memory_gb``, ``gpu`` (None without CUDA), ``python``, ``platform`` and
        ``versions`` (``sk_eegm2`` and each of :data:`LIBRARIES` that imports).
    """
    versions = {"sk_eegm2": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            continue
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary(machine: dict[str, Any]) -> str:
    """One line on the machine of :func:`machine_info`, for the head of a report."""
    versions = "".join(f", {k} {v}" for k, v in machine.get("versions", {}).items())
    return (
        f"{machine['date']}: {machine['cpu']}, {machine['cores']} cores "
        f"({machine['torch_threads']} torch threads), {machine['memory_gb']} GiB, GPU "
        f"{machine.get('gpu') or 'none'}; Python {machine['python']}{versions}"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table, as lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def rst_table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A reStructuredText ``list-table``, as lines (empty cells shown as "..")."""
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0] or '..'}")
        lines += [f"     - {cell or '..'}" for cell in row[1:]]
    return lines


def run_footer(results: dict[str, Any]) -> list[str]:
    """The closing lines of a protocol's Markdown: what was included, where and how long.

    Parameters
    ----------
    results : dict
        A protocol's results, with ``included``, ``machine`` and ``total_seconds``.

    Returns
    -------
    list of str
    """
    lines = [
        f"\nIncluded from `{included['source']}`: {', '.join(included['models'])}."
        for included in results.get("included", [])
    ]
    return [
        *lines,
        "",
        f"Run on {machine_summary(results['machine'])}. "
        f"Total time {results['total_seconds'] / 60:.1f} min.",
    ]


def save_results(
    results: dict[str, Any], markdown: str, out_dir: str | Path, stem: str
) -> list[Path]:
    """Write ``{stem}.json`` (the results) and ``{stem}.md`` (``markdown``) into ``out_dir``.

    Returns
    -------
    list of Path
        The two files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    write_json(results, paths[0])
    paths[1].write_text(markdown)
    return paths


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented JSON (numpy values and tuples as plain JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_plain) + "\n")
    return path


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return str(value)
