"""PNG figures of the benchmark results, written next to the results they are drawn from.

    python bench/plots.py bench/out/<run>/results.json ...     # what the bench scripts call at the end
    python bench/plots.py bench/results/*.json                 # the recorded runs (bench/RESULTS.md)

Each results file is recognised by its shape: mint economy (the operator against the naive SDK
minter), time to flag (per scenario), scale (RSS and time to Ready against the number of apps). A
file `<dir>/results.json` gets `<dir>/<figure>.png`; any other `<dir>/<stem>.json` gets
`<dir>/<stem>-<figure>.png`. matplotlib comes with the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

OPERATOR_COLOUR = "#1f77b4"
NAIVE_COLOUR = "#d62728"


def figure_path(results: Path, figure: str) -> Path:
    if results.name == "results.json":
        return results.with_name(f"{figure}.png")
    return results.with_name(f"{results.stem}-{figure}.png")


def _machine(data: dict[str, Any]) -> str:
    machine = data.get("machine") or {}
    return (
        f"{machine.get('date', '?')}, {machine.get('nproc', '?')} cores, Python {machine.get('python', '?')}"
    )


def mint_economy(data: dict[str, Any], results: Path) -> Path:
    """Tokens minted over the run: the operator (one minter for all consumers, restarts and replicas
    included) against 100 consumers each minting like a common SDK, and the floor of one minter."""
    settings = data["settings"]
    ttl, renew_before = settings["ttl_s"], settings["renew_before_s"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    timeline = data.get("mint_timeline")
    if timeline:
        seconds = [row[0] for row in timeline]
        ax.step(seconds, [row[1] for row in timeline], where="post", color=OPERATOR_COLOUR, label="operator")
        ax.step(seconds, [row[2] for row in timeline], where="post", color=NAIVE_COLOUR, label="naive SDK")
        ax.plot(
            seconds,
            [t / (ttl - renew_before) for t in seconds],
            color="grey",
            linestyle="--",
            label="floor: one minter",
        )
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("tokens minted (cumulative)")
        ax.set_yscale("symlog", linthresh=100)
    else:  # runs recorded before the bench kept a timeline: the totals only
        names = ["floor (one minter)", "operator", "naive SDK"]
        values = [data["operator"]["floor"], data["operator"]["minted"], data["naive"]["minted"]]
        bars = ax.bar(names, values, color=["grey", OPERATOR_COLOUR, NAIVE_COLOUR])
        ax.bar_label(bars, labels=[f"{v:.0f}" for v in values])
        ax.set_yscale("log")
        ax.set_ylabel("tokens minted over the run (log)")
    ax.set_title(
        f"Mint economy: {data['lifetimes_measured']:.0f} token lifetimes, {settings['replicas']} replicas, "
        f"{settings['consumers']} consumers\noperator {data['operator']['minted']} "
        f"(×{data['operator']['ratio']:.3f} floor), naive {data['naive']['minted']} "
        f"({data['naive_over_operator']:.0f}× the operator)",
        fontsize=10,
    )
    if timeline:
        ax.legend(loc="upper left")
    ax.grid(True, alpha=0.3)
    fig.text(0.99, 0.01, _machine(data), ha="right", fontsize=7, color="grey")
    return _save(fig, figure_path(results, "mint_timeline"))


def time_to_flag(data: dict[str, Any], results: Path) -> Path:
    """Seconds from the Zoom-side change to the flag on status, per scenario, with each rep's bound."""
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in data["scenarios"]:
        by_scenario[row["scenario"]].append(row)

    def median_seconds(name: str) -> float:
        seconds = [r["seconds"] for r in by_scenario[name] if r["seconds"] is not None]
        return statistics.median(seconds) if seconds else float("inf")

    names = sorted(by_scenario, key=median_seconds)
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.7 * len(names)))
    labelled: set[str] = set()

    def label(text: str) -> str | None:
        if text in labelled:
            return None
        labelled.add(text)
        return text

    for y, name in enumerate(names):
        rows = by_scenario[name]
        flagged_rows = [r for r in rows if r["seconds"] is not None]
        missed = [r for r in rows if r["seconds"] is None]
        ax.scatter([r["seconds"] for r in flagged_rows], [y] * len(flagged_rows), color=OPERATOR_COLOUR,
                   zorder=3, label=label("time to flag"))  # fmt: skip
        ax.scatter([r["bound_s"] for r in missed], [y] * len(missed), marker="x", color=NAIVE_COLOUR,
                   zorder=3, label=label("not flagged (at its bound)") if missed else None)  # fmt: skip
        ax.scatter([r["bound_s"] for r in rows], [y] * len(rows), marker="|", s=300, color="grey",
                   label=label("bound for that run"))  # fmt: skip
        flagged = {f"{r['condition']}/{r['reason'] or r['expected_reason'] + ' expected'}" for r in rows}
        ax.annotate(", ".join(sorted(flagged)), (0, y + 0.3), fontsize=7, color="dimgrey")
    ax.set_yticks(
        range(len(names)), [f"{n}\n({by_scenario[n][0]['surfaces_at']})" for n in names], fontsize=8
    )
    ax.set_ylim(-0.6, len(names) - 0.2)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds from the change in Zoom to the flag on the ZoomApp's status")
    ax.set_title(f"Time to flag, probe every {data['probe_interval_s']} s ({len(data['scenarios'])} runs)",
                 fontsize=10)  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.text(0.99, 0.01, _machine(data), ha="right", fontsize=7, color="grey")
    return _save(fig, figure_path(results, "time_to_flag"))


def scale(data: dict[str, Any], results: Path) -> Path:
    """Steady RSS and time until every app is Ready, against the number of ZoomApps."""
    runs = sorted(data["runs"], key=lambda run: (run["shards"], run["apps"]))
    fig, (rss_ax, ready_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for shards in sorted({run["shards"] for run in runs}):
        mine = [run for run in runs if run["shards"] == shards]
        apps = [run["apps"] for run in mine]
        label = "one process" if shards == 1 else f"{shards} shards (per process)"
        rss_ax.plot(apps, [max(run["steady_rss_mb"]) for run in mine], marker="o", label=label)
        ready_ax.plot(apps, [run["all_ready_s"] for run in mine], marker="o", label=f"all Ready, {label}")
        ready_ax.plot(apps, [run["p50_ready_s"] for run in mine], marker="x", linestyle=":",
                      label=f"half Ready, {label}")  # fmt: skip
    for ax in (rss_ax, ready_ax):
        ax.set_xscale("log")
        ax.set_xlabel("ZoomApps")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    rss_ax.set_yscale("log")
    rss_ax.set_ylabel("steady RSS (MB, largest process)")
    ready_ax.set_yscale("log")
    ready_ax.set_ylabel("seconds from creation")
    settings = data["settings"]
    title = f"Scale: probe every {settings['probe_interval_s']} s, tokens of {settings['token_ttl_s']} s"
    fig.suptitle(title, fontsize=10)
    fig.text(0.99, 0.01, _machine(data), ha="right", fontsize=7, color="grey")
    return _save(fig, figure_path(results, "scale"))


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(results: Path) -> list[Path]:
    """Every figure this results file supports (none for an unknown shape)."""
    data = json.loads(results.read_text())
    if "naive" in data and "operator" in data:
        return [mint_economy(data, results)]
    if "scenarios" in data:
        return [time_to_flag(data, results)]
    if "runs" in data and data["runs"] and "steady_rss_mb" in data["runs"][0]:
        return [scale(data, results)]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results JSON files")
    args = parser.parse_args(argv)
    for results in args.results:
        for path in plot(results):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
