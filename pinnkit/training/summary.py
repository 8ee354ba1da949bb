"""A sweep's summary: one row per run (sweep.csv) and the spread across seeds per grid point.

``rows`` flattens each run's metrics.json into columns (``l2/u``, ``linf/u``,
``loss/<term>``, ``loss/total``, ``steps``, ``wall_time_s``) beside its grid values and
seed. ``spread`` groups the rows by grid values and gives, for each metric, the mean,
median, standard deviation (sample, ddof = 1; empty for one seed), minimum and maximum
over the seeds. ``read`` loads them back from a sweep folder (``scripts/accuracy.py
--sweep``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .files import write_atomic

STATS = ("n", "mean", "median", "std", "min", "max")


def run_row(label: str, values: Mapping[str, Any], seed: int, status: str,
            metrics: Mapping[str, Any] | None, history: Sequence[Mapping[str, float]]
            ) -> dict[str, Any]:
    """One run's row: its folder name, grid values, seed, status and final metrics."""
    row: dict[str, Any] = {"run": label, **{k: v for k, v in values.items()}, "seed": seed,
                           "status": status}
    if metrics:
        row.update({f"l2/{k}": v for k, v in metrics.get("l2_relative_error", {}).items()})
        row.update({f"linf/{k}": v for k, v in metrics.get("max_abs_error", {}).items()})
        row.update({f"loss/{k}": v for k, v in metrics.get("loss", {}).items()})
        row.update({f"param/{k}": v for k, v in metrics.get("parameters", {}).items()})
    if history:
        row["loss/total"] = history[-1].get("loss/total")
    if metrics:
        row["steps"] = metrics.get("steps")
        row["wall_time_s"] = metrics.get("wall_time_s")
    return row


def metric_columns(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    fixed = {"run", "seed", "status", *keys}
    return [c for c in dict.fromkeys(k for r in rows for k in r) if c not in fixed]


def spread(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per grid point and metric: n, mean, median, std, min, max over the seeds (finished
    runs only; a run that failed counts in none)."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(json.dumps(r.get(k)) for k in keys), []).append(r)
    out = []
    for members in groups.values():
        done = [r for r in members if r.get("status") == "finished"]
        for metric in metric_columns(rows, keys):
            vals = [float(r[metric]) for r in done if isinstance(r.get(metric), (int, float))]
            out.append({**{k: members[0].get(k) for k in keys}, "metric": metric,
                        **stats(vals)})
    return out


def stats(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": math.nan, "median": math.nan, "std": math.nan,
                "min": math.nan, "max": math.nan}
    return {"n": len(values), "mean": statistics.fmean(values),
            "median": statistics.median(values),
            "std": statistics.stdev(values) if len(values) > 1 else math.nan,
            "min": min(values), "max": max(values)}


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(folder: Path, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
          extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """sweep.csv, summary.csv and sweep.json (grid keys, seeds, where each run is)."""
    table = spread(rows, keys)
    write_atomic(folder / "sweep.csv", to_csv(rows), folder)
    write_atomic(folder / "summary.csv", to_csv(table), folder)
    write_atomic(folder / "sweep.json", json.dumps({**extra, "grid_keys": list(keys)},
                                                   indent=2, default=str) + "\n", folder)
    return table


def read(folder: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(rows of sweep.csv, rows of summary.csv, grid keys) of a sweep folder."""
    folder = Path(folder)
    meta = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    with open(folder / "sweep.csv", newline="", encoding="utf-8") as f:
        rows = [_numbers(r) for r in csv.DictReader(f)]
    with open(folder / "summary.csv", newline="", encoding="utf-8") as f:
        table = [_numbers(r) for r in csv.DictReader(f)]
    return rows, table, list(meta.get("grid_keys", []))


def _numbers(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        try:
            out[k] = float(v) if v not in ("", None) and k not in ("run", "status") else v
        except ValueError:
            out[k] = v
    return out


def markdown(table: Sequence[Mapping[str, Any]], keys: Sequence[str],
             metrics: Sequence[str] | None = None) -> str:
    """The spread as a markdown table: one line per grid point and metric."""
    shown = [r for r in table if metrics is None or r["metric"] in metrics]
    head = [*keys, "metric", *STATS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in shown:
        cells = [str(r.get(k)) for k in keys] + [str(r["metric"])]
        cells += [str(int(r["n"]))] + [_fmt(r[s]) for s in STATS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if not isinstance(v, (int, float)) or math.isnan(v):
        return "-"
    return f"{v:.3e}"
