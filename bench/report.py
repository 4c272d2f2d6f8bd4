"""Markdown tables of every results file under bench/results/ (pasted into bench/RESULTS.md).

    .venv/bin/python -m bench.report [bench/results]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _env_line(env: dict) -> str:
    gpus = ", ".join(g["name"] for g in env.get("gpus", [])) or "no GPU"
    versions = env.get("versions", {})
    keras = f"Keras {versions.get('keras')} ({env.get('keras_backend')}"
    keras += f", TF {versions['tensorflow-cpu']})" if "tensorflow-cpu" in versions else (
        f", JAX {versions['jax']})" if "jax" in versions else ")")
    return (f"{env['date']} · {env['cpu']} × {env['cpus']} CPUs, {gpus} · Python {env['python']}, {keras}, "
            f"nbgrader {versions.get('nbgrader')}, nbclient {versions.get('nbclient')}, dask {versions.get('dask')}"
            f" · {env.get('bubblewrap') or 'no bwrap'} · load {env['loadavg']} → {env.get('loadavg_end')}"
            f" · git {env.get('git_head') or '(copy, see RESULTS.md)'}")


def throughput(name: str, data: dict) -> list[str]:
    options = data["options"]
    lines = [f"#### {name}: {options['n']} {options['kind']} submissions, {options['rounds']} round(s)",
             "", f"`{data['environment']['command']}`", "", _env_line(data["environment"]), "",
             "| round | system | wall s | collect s | load before → after | exit |", "| --- | --- | --- | --- | --- | --- |"]
    for run in data.get("runs", []):
        lines.append(f"| {run['round']} | {run['system']} | {run['wall_s']} | {run.get('collect_s', '')} | "
                     f"{run['load_before'][0]} → {run['load_after'][0]} | {run['rc']} |")
    summary = data.get("summary", {})
    lines += ["", "| system | median wall s | submissions / hour | s / submission |", "| --- | --- | --- | --- |"]
    for system, stats in summary.get("systems", {}).items():
        lines.append(f"| {system} | {stats['wall_s']['median']} | {stats['submissions_per_hour']} | "
                     f"{stats['seconds_per_submission']} |")
    if summary.get("ratios"):
        lines += ["", "| throughput ratio | per round | of the medians |", "| --- | --- | --- |"]
        for pair, ratio in summary["ratios"].items():
            lines.append(f"| {pair} | {', '.join(f'{p:.2f}' for p in ratio['paired'])} | {ratio['of_medians']:.2f} |")
    students: dict[str, dict[str, str]] = {}
    for run in data.get("runs", []):
        if run["round"] != 1:
            continue
        for student, info in run.get("students", {}).items():
            if "score" in info:
                cell = f"{info['score']:g} / {info['max_score']:g}" + (f" ({info['status']})" if "status" in info else "")
            elif "error_outputs" in info:
                cell = f"{info['error_outputs']} error output(s), {info['wall_s']} s"
            else:
                cell = info.get("error", "")
            if info.get("timing"):
                t = info["timing"]
                cell += f"; prepare {t['prepare_s']} + execute {t['execute_s']} + score {t['score_s']} s"
            students.setdefault(student, {})[run["system"]] = cell
    systems = [s for s in options["systems"] if any(s in row for row in students.values())]
    if students:
        lines += ["", "| student (round 1) | " + " | ".join(systems) + " |", "| --- |" + " --- |" * len(systems)]
        for student, row in students.items():
            lines.append(f"| {student} | " + " | ".join(row.get(s, "") for s in systems) + " |")
    return lines


def overhead(name: str, data: dict) -> list[str]:
    lines = [f"#### {name}: one {data['options']['kind']} notebook, {data['options']['reps']} repetition(s)", "",
             f"`{data['environment']['command']}`", "", _env_line(data["environment"]), "",
             ("| variant | median wall s | student cells s | startup s | prepare s | execute s (of which harness) | "
              "score s | overhead vs bare |"), "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for variant, stats in data.get("summary", {}).items():
        parts = stats.get("breakdown_median_s", {})
        over = (f"+{stats['overhead_s']} s = {stats['overhead_fraction_of_medians']:.0%}"
                if "overhead_s" in stats else "")
        execute = f"{parts.get('execute_s', '')} ({parts.get('harness_s', '')})" if parts else ""
        lines.append(f"| {variant} | {stats['wall_s']['median']} | {stats['cell_span_s'].get('median', '')} | "
                     f"{parts.get('startup_s', '')} | {parts.get('prepare_s', '')} | {execute} | "
                     f"{parts.get('score_s', '')} | {over} |")
    lines += ["", "| rep | variant | wall s | load after |", "| --- | --- | --- | --- |"]
    for run in data.get("runs", []):
        lines.append(f"| {run['rep']} | {run['variant']} | {run['wall_s']} | {run['load_after'][0]} |")
    return lines


def selfcheck(name: str, data: dict) -> list[str]:
    m = data["measurement"]
    lines = [f"#### {name}: {m['reps']} calls after the first (Keras backend {m['keras_backend']})", "",
             f"`{data['environment']['command']}`", "", _env_line(data["environment"]), "",
             (f"`from grader import check`: {m['grader_import_s'] * 1000:.1f} ms (Keras imported before: "
              f"{m['keras_import_s']} s)"), "",
             "| part | first call s | median ms | p95 ms | max ms |", "| --- | --- | --- | --- | --- |"]
    for part, stats in m["parts"].items():
        after = stats["after_first_s"]
        lines.append(f"| {part} | {stats['first_call_s']} | {after['median'] * 1000:.1f} | "
                     f"{after['p95'] * 1000:.1f} | {after['max'] * 1000:.1f} |")
    return lines


def kernel_ab(name: str, data: dict) -> list[str]:
    lines = [f"#### {name}: student cells of one {data['options']['kind']} notebook per kernel setting", "",
             f"`{data['environment']['command']}`", "", _env_line(data["environment"]), "",
             "| variant | student cells s per rep | median s |", "| --- | --- | --- |"]
    for variant, stats in data.get("summary", {}).items():
        spans = [str(r["cell_span_s"]) for r in data["runs"] if r["variant"] == variant]
        lines.append(f"| {variant} | {', '.join(spans)} | {stats.get('median', '')} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:] or [str(RESULTS)])[0])
    out = []
    for path in sorted(root.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        render = {"throughput": throughput, "overhead": overhead, "selfcheck": selfcheck,
                  "kernel_ab": kernel_ab}.get(data.get("benchmark"))
        if render:
            out += render(str(path.relative_to(root)), data) + [""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
