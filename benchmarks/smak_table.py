"""The SMAK-Net ablation table on our multi-view data: multi-view TCN against each variant.

Shaped like the seed's two tables (Ramachandrani et al.): multi-view TCN and SMAK-Net
``att12 / att13 / att23 / att123``, then ``extended / softmax / resnet``, with parameters,
iterations, alignment error, classification error and triplet accuracy on the validation
episodes, and the iterations and training wall time each first reached every alignment error
of ``--thresholds`` (the seed's claim is faster convergence). Every row trains with the same
loss, budget and data through ``tcn train-embedding``, once per ``--seeds`` seed, and is
scored by ``tcn evaluate-embedding`` (the metrics of ARCHITECTURE.md), so the table is what
those commands give; each figure is the mean ± standard deviation (n - 1) over the seeds,
the single value for one seed.

On a reach dataset (``tcn record --task reach``) the classification error is shown with its
two floors (the exact joints and a random embedding, docs/embedding.md), which are the same
for every row; other datasets have no classification error ("—"). One-view data (the
paper's single-view protocol) has no alignment error either, only the triplet accuracies;
there the row ``tcn_resnet`` (TCN on the ResNet-18 trunk) is the reference for ``resnet``.
Finished runs are reused and interrupted ones resumed, so the script can be stopped and
re-run; ``--parallel 2`` trains two runs at once, each logging to ``OUT/logs/``.

Usage::

    tcn record --out data/reach3 --episodes 200 --val-episodes 10 --task reach --views 3 \
        --image-size 96 --workers 2
    python benchmarks/smak_table.py --data data/reach3 --out runs/smak_reach --epochs 40 \
        --seeds 0 1 2 --parallel 2
    python benchmarks/smak_table.py --data data/mv3s --out runs/smak_table --rows tcn att123 \
        --seeds 0 1 --thresholds 0.15 0.12 --extra --device cuda
    python benchmarks/smak_table.py --data data/paper --out runs/smak_single \
        --rows tcn_resnet resnet --loss triplet --epochs 60 --seeds 0 1 2 --parallel 2

Writes ``OUT/table.md`` (the table, its budget above it, the floors and the alignment error
against steps below), ``OUT/trend.png`` (that trend, plotted) and
``OUT/table.json`` (the budget, every row's flags, every seed's numbers and their mean and
standard deviation) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

# row -> flags after the common ones. Inception rows follow the seed (Inception-v3 trunk to
# Mixed_5d, TCN's own trunk); "resnet" is the ResNet-backbone variant (docs/smak.md).
INCEPTION = ["--model.backbone", "inception"]
SMAK = ["--model.architecture", "smak"]
ROWS: dict[str, list[str]] = {
    "tcn": ["--model.architecture", "tcn", *INCEPTION],
    "att12": [*SMAK, "--model.attention", "att12", *INCEPTION],
    "att13": [*SMAK, "--model.attention", "att13", *INCEPTION],
    "att23": [*SMAK, "--model.attention", "att23", *INCEPTION],
    "att123": [*SMAK, "--model.attention", "att123", *INCEPTION],
    "extended": [*SMAK, "--model.attention", "att123", *INCEPTION, "--model.extended"],
    "softmax": [
        *SMAK, "--model.attention", "att123", *INCEPTION,
        "--model.attention-normalization", "softmax",
    ],
    "resnet": [*SMAK, "--model.attention", "att123", "--model.backbone", "resnet18"],
    # TCN on the ResNet-18 trunk, the `contrastive` preset's own network: the reference for
    # "resnet" (on single-view data, the network of docs/embedding.md's triplet accuracy)
    "tcn_resnet": ["--model.architecture", "tcn", "--model.backbone", "resnet18"],
}  # fmt: skip
SEED_ROWS = [row for row in ROWS if row != "tcn_resnet"]

SEED_TABLE = [  # the seed's reported numbers, for the table's first rows
    ("seed: multi-view TCN", "—", "224k", 0.175, 0.193),
    ("seed: SMAK-Net", "~1.08M", "69k", 0.109, 0.161),
]

ATTRIBUTES = ("target", "phase")  # the reach task's labels (tcn_embedding.reach_attributes)
FLOORS = {"floor": "exact joints", "random": "random embedding"}  # classification_error_<key>
NONE = "—"


# --------------------------------------------------------------------------- training
def run_flags(args: argparse.Namespace, row: str, seed: int) -> list[str]:
    """The ``tcn train-embedding`` flags of one run, after ``--data`` and ``--out``."""
    return [
        "--preset", args.preset, "--objectives.loss", args.loss,
        "--schedule.epochs", str(args.epochs), "--schedule.eval-every", str(args.eval_every),
        "--seed", str(seed), "--no-progress",
        *args.extra, *ROWS[row],
    ]  # fmt: skip


def tcn(*args: str, log: Path | None = None) -> None:
    """Run ``tcn ARGS``, its output to the console or appended to ``log``."""
    command = [sys.executable, "-m", "tcn", *args]
    shown = " ".join(command[2:])
    if log is None:
        print("+", shown, flush=True)
        subprocess.run(command, check=True)
        return
    print("+", shown, ">>", log, flush=True)
    with log.open("a") as out:
        out.write(f"+ {shown}\n")
        out.flush()
        subprocess.run(command, check=True, stdout=out, stderr=subprocess.STDOUT)


def trained_epochs(run: Path) -> int:
    """Epochs in the run's history.jsonl (0 for a run not started)."""
    from tcn.runs import read_history

    history = read_history(run)
    return int(history[-1].get("epoch", 0)) if history else 0


def train_and_evaluate(args: argparse.Namespace, row: str, seed: int) -> Path:
    """Train ``OUT/<row>_s<seed>`` (resumed from its last checkpoint if there is one; not
    at all if it has its epochs) and evaluate it unless its metrics are newer than it."""
    run = args.out / f"{row}_s{seed}"
    log = None
    if args.parallel > 1:
        (args.out / "logs").mkdir(exist_ok=True)
        log = args.out / "logs" / f"{run.name}.log"
    last, metrics = run / "checkpoints" / "last.pt", run / "eval" / "metrics.json"
    if not last.exists() or trained_epochs(run) < args.epochs:
        resume = ["--resume"] if last.exists() else []
        tcn("train-embedding", "--data", str(args.data), "--out", str(run),
            *run_flags(args, row, seed), *resume, log=log)  # fmt: skip
    if not metrics.exists() or metrics.stat().st_mtime < last.stat().st_mtime:
        threads = eval_threads(args)
        tcn("evaluate-embedding", "--model", str(run), "--data", str(args.data), "--out",
            str(run / "eval"), *(["--threads", str(threads)] if threads else []),
            log=log)  # fmt: skip
    return run


def eval_threads(args: argparse.Namespace) -> int | None:
    """Torch threads of each evaluation: the training's ``--threads`` among ``--extra``, else
    with ``--parallel`` runs at once an equal share of the cores, else torch's default (None).

    An evaluation left at torch's default beside other runs asks for every core, and its
    threads, more than the cores left, wait on each other at every operation: several times
    slower than one thread (docs/smak.md)."""
    from tcn.commands import add_threads_argument

    parser = argparse.ArgumentParser(add_help=False)
    add_threads_argument(parser)
    threads = parser.parse_known_args(args.extra)[0].threads
    if threads:
        return threads
    if args.parallel > 1:
        return max(1, (os.cpu_count() or 1) // args.parallel)
    return None


def train_all(
    args: argparse.Namespace, jobs: list[tuple[str, int]]
) -> tuple[dict[tuple[str, int], Path], list[tuple[str, int]]]:
    """:func:`train_and_evaluate` every ``(row, seed)``, ``args.parallel`` at once: the runs
    that finished, in the order of ``jobs``, and the jobs whose command failed (the others
    still run). An interrupt cancels the jobs not yet started."""
    done: dict[tuple[str, int], Path] = {}
    failed: list[tuple[str, int]] = []
    pool = ThreadPoolExecutor(max_workers=args.parallel)
    try:
        futures = {job: pool.submit(train_and_evaluate, args, *job) for job in jobs}
        wait(futures.values())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for job, future in futures.items():
        error = future.exception()
        if error is None:
            done[job] = future.result()
        elif isinstance(error, subprocess.CalledProcessError):
            failed.append(job)
        else:
            raise error
    return done, failed


def parameters(run: Path) -> int:
    """Parameters of the trained network (what ``tcn train-embedding`` logs)."""
    from tcn.embedding_run import load_embedding_model

    model = load_embedding_model(run)
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- one run
def threshold_key(threshold: float) -> str:
    """``0.15 -> "0.15"``: the key of a threshold in the summaries and table.json."""
    return f"{threshold:g}"


def first_reaching(history: list[dict], key: str, threshold: float) -> dict | None:
    """The first evaluated record with ``history[key] <= threshold`` (None if never)."""
    for record in history:
        if key in record and record[key] <= threshold:
            return record
    return None


def time_to_thresholds(history: list[dict], thresholds: list[float]) -> dict[str, dict]:
    """Per threshold, the training steps and wall time (s) of the first evaluation at or
    below it in ``val/alignment_error``, both None when none was."""
    out = {}
    for threshold in thresholds:
        reached = first_reaching(history, "val/alignment_error", threshold)
        out[threshold_key(threshold)] = {
            "iterations": int(reached["train/steps"]) if reached else None,
            "wall_s": reached.get("time/wall_s") if reached else None,
        }
    return out


def alignment_curve(history: list[dict]) -> list[list[float]]:
    """``[[steps, alignment error], ...]``: every evaluation of ``val/alignment_error``."""
    return [
        [int(r["train/steps"]), r["val/alignment_error"]]
        for r in history
        if "val/alignment_error" in r
    ]


def summarise_metrics(
    metrics: dict, history: list[dict], thresholds: list[float], parameters: int
) -> dict:
    """One run's numbers: ``metrics`` (its metrics.json) and ``history`` (its history.jsonl)
    read into the fields the table shows. Classification fields are None on data that has
    none."""

    def per_attribute(key: str) -> dict[str, float] | None:
        values = metrics.get(f"{key}_per_attribute")
        return None if values is None else {name: values.get(name) for name in ATTRIBUTES}

    last = history[-1]
    summary = {
        "parameters": parameters,
        "epochs": last.get("epoch"),
        "iterations": int(last["train/steps"]),
        "wall_s": last.get("time/wall_s"),
        "alignment_error": metrics.get("alignment_error"),
        "triplet_accuracy": metrics.get("triplet_accuracy"),
        "triplet_accuracy_margin": metrics.get("triplet_accuracy_margin"),
        "joint_probe_r2": metrics.get("joint_probe_r2"),
        "to_threshold": time_to_thresholds(history, thresholds),
        "alignment_curve": alignment_curve(history),
    }
    for suffix in ("", *(f"_{key}" for key in FLOORS)):
        key = f"classification_error{suffix}"
        summary[key] = metrics.get(key)
        summary[f"{key}_per_attribute"] = per_attribute(key)
    return summary


def summarise(run: Path, seed: int, flags: list[str], thresholds: list[float]) -> dict:
    """:func:`summarise_metrics` of a trained and evaluated run, with its seed, the flags
    this invocation gives it and the settings it was trained with (its config.yaml)."""
    from tcn.runs import read_config, read_history

    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    summary = summarise_metrics(metrics, read_history(run), thresholds, parameters(run))
    config = read_config(run).get("train")
    return {"run": str(run), "seed": seed, "flags": flags, "config": config, **summary}


# --------------------------------------------------------------------------- statistics
def numbers(values: list) -> list[float]:
    return [v for v in values if v is not None]


def spread(values: list) -> dict:
    """Mean and standard deviation (n - 1; None for one value) of the values that are not
    None, and every value: what table.json keeps of a column."""
    present = numbers(values)
    return {
        "mean": statistics.fmean(present) if present else None,
        "std": statistics.stdev(present) if len(present) > 1 else None,
        "n": len(present),
        "values": values,
    }


def mean_std(values: list, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """``"14.5 ± 0.5%"``: mean ± standard deviation (n - 1) of the values that are not None,
    times ``scale``; the value alone for one, "—" for none."""
    stats = spread(values)
    if stats["mean"] is None:
        return NONE
    text = f"{scale * stats['mean']:.{digits}f}"
    if stats["std"] is not None:
        text += f" ± {scale * stats['std']:.{digits}f}"
    return text + unit


def common(values: list, scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
    """The value every seed shares (parameters, iterations), else :func:`mean_std`."""
    present = numbers(values)
    if present and all(v == present[0] for v in present):
        return f"{scale * present[0]:.{digits}f}{unit}"
    return mean_std(values, scale, digits, unit)


def pct(values: list) -> str:
    return mean_std(values, scale=100, unit="%")


def to_threshold(runs: list[dict], threshold: float) -> list[dict]:
    """Each run's iterations and wall time to ``threshold`` (:func:`time_to_thresholds`)."""
    return [r["to_threshold"][threshold_key(threshold)] for r in runs]


def reached_cell(runs: list[dict], threshold: float) -> str:
    """Iterations / wall time to ``threshold`` alignment error, mean ± std over the seeds
    that reached it, ``(k/n seeds)`` when not all did, "not reached" when none did, "—" on
    data without an alignment error (one view)."""
    if not has_alignment(runs):
        return NONE
    hits = [h for h in to_threshold(runs, threshold) if h["iterations"] is not None]
    if not hits:
        return "not reached"
    its = mean_std([h["iterations"] for h in hits], digits=0)
    wall = mean_std([h["wall_s"] for h in hits], scale=1 / 60, unit=" min")
    share = "" if len(hits) == len(runs) else f" ({len(hits)}/{len(runs)} seeds)"
    return f"{its} / {wall}{share}"


def every_run(results: dict[str, list[dict]]) -> list[dict]:
    return [r for runs in results.values() for r in runs]


def column(runs: list[dict], key: str, attribute: str | None = None) -> list:
    """Each run's ``key``, or with ``attribute`` its ``<key>_per_attribute[attribute]``
    (None where the run has none)."""
    if attribute is None:
        return [r[key] for r in runs]
    return [(r[f"{key}_per_attribute"] or {}).get(attribute) for r in runs]


def has_alignment(runs: list[dict]) -> bool:
    """Whether the runs' data has several views: their metrics have an alignment error."""
    return bool(numbers(column(runs, "alignment_error")))


def has_floors(runs: list[dict]) -> bool:
    """Whether the runs' data is a reach dataset: its metrics have the classification
    error's floors."""
    return bool(numbers(column(runs, "classification_error_floor")))


def floors_line(results: dict[str, list[dict]]) -> str:
    """The classification error's two floors with their attributes, one line, or a line
    saying the data has no classification error."""
    runs = every_run(results)
    if not has_floors(runs):
        left = "alignment error" if has_alignment(runs) else "one view"
        return f"No classification error: the data is no reach dataset ({left} only)."
    parts = []
    for key, name in FLOORS.items():
        key = f"classification_error_{key}"
        attributes = ", ".join(
            f"{attribute} {common(column(runs, key, attribute), 100, 1, '%')}"
            for attribute in ATTRIBUTES
        )
        parts.append(f"{name} {common(column(runs, key), 100, 1, '%')} ({attributes})")
    return (
        "Classification error floors of this dataset (`tcn evaluate-embedding`, the same "
        f"for every row): {'; '.join(parts)}."
    )


def span(values: list) -> str:
    """``"40"`` when every value is 40, ``"40-60"`` when they differ."""
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}-{high}"


def budget_line(budget: dict, results: dict[str, list[dict]]) -> str:
    """What every row was trained with: epochs and steps (as the runs' histories say, so
    a reused run trained longer shows), loss, preset, extra flags and seeds."""
    runs = every_run(results)
    epochs = span(column(runs, "epochs"))
    asked = "" if epochs == str(budget["epochs"]) else f" (asked for {budget['epochs']})"
    extra = f", extra flags `{' '.join(budget['extra'])}`" if budget["extra"] else ""
    return (
        f"Budget per run: {epochs} epochs{asked} = {span(column(runs, 'iterations'))} steps, "
        f"loss {budget['loss']}, preset `{budget['preset']}`{extra}; data `{budget['data']}`; "
        f"seeds {' '.join(map(str, sorted(set(column(runs, 'seed')))))}, each figure "
        "mean ± std (n - 1) over them."
    )


def table(results: dict[str, list[dict]], thresholds: list[float], budget: dict) -> str:
    """The markdown table of ``results`` (row -> one summary per seed), the budget above
    it and the classification error's floors below it."""
    cls_header = "classification error"
    every = every_run(results)
    if has_floors(every):
        floor = common(column(every, "classification_error_floor"), 100, 1, "%")
        random = common(column(every, "classification_error_random"), 100, 1, "%")
        cls_header += f" (floor {floor}, random {random})"
    reach_headers = [f"iterations / wall time to {100 * t:.1f}% alignment" for t in thresholds]
    blank = " |" * len(thresholds)
    lines = [
        budget_line(budget, results),
        "",
        f"| model | seeds | parameters | iterations | alignment error | {cls_header} "
        f"| triplet accuracy / with margin (view 0) | {' | '.join(reach_headers)} |",
        "|---" * (7 + len(thresholds)) + "|",
    ]
    seed_rows = SEED_TABLE if has_alignment(every) else []  # the seed's are multi-view
    for name, params, its, align, cls in seed_rows:
        lines.append(f"| {name} | | {params} | {its} | {pct([align])} | {pct([cls])} | |{blank}")
    for row, runs in results.items():
        cells = [
            row,
            str(len(runs)),
            common([r["parameters"] for r in runs], scale=1e-6, digits=2, unit="M"),
            common([r["iterations"] for r in runs]),
            pct([r["alignment_error"] for r in runs]),
            pct([r["classification_error"] for r in runs]),
            " / ".join(
                mean_std([r[key] for r in runs], scale=1000, digits=0)
                for key in ("triplet_accuracy", "triplet_accuracy_margin")
            ),
            *(reached_cell(runs, t) for t in thresholds),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", floors_line(results)]
    return "\n".join(lines)


def trend(runs: list[dict]) -> dict[int, list[float]]:
    """Steps -> each seed's alignment error at that evaluation (the seeds that have one)."""
    at: dict[int, list[float]] = {}
    for run in runs:
        for steps, error in run.get("alignment_curve") or []:
            at.setdefault(int(steps), []).append(error)
    return dict(sorted(at.items()))


def trend_table(results: dict[str, list[dict]]) -> str:
    """Alignment error against training steps, mean ± std over each row's seeds at every
    evaluation: the trend a longer budget continues ("—" where a row has none)."""
    steps = sorted({s for runs in results.values() for s in trend(runs)})
    if not steps:
        return ""
    lines = [
        "| model | " + " | ".join(f"{s} steps" for s in steps) + " |",
        "|---" * (1 + len(steps)) + "|",
    ]
    for row, runs in results.items():
        at = trend(runs)
        lines.append(f"| {row} | " + " | ".join(pct(at.get(s, [])) for s in steps) + " |")
    return "\n".join(lines)


def plot_trend(results: dict[str, list[dict]], thresholds: list[float], path: Path) -> None:
    """``path``: each row's mean alignment error against steps, its seeds' spread shaded,
    with the thresholds (dotted) and the issue's 8% (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for row, runs in results.items():
        at = trend(runs)
        if not at:
            continue
        steps = list(at)
        stats = [spread(v) for v in at.values()]
        mean = [100 * s["mean"] for s in stats]
        std = [100 * (s["std"] or 0.0) for s in stats]
        (line,) = ax.plot(steps, mean, "o-", ms=3, lw=1.2, label=f"{row} ({len(runs)})")
        low = [m - s for m, s in zip(mean, std, strict=True)]
        high = [m + s for m, s in zip(mean, std, strict=True)]
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.15, lw=0)
    for threshold in thresholds:
        ax.axhline(100 * threshold, color="0.6", ls=":", lw=1)
    ax.axhline(8.0, color="0.3", ls="--", lw=1)
    ax.set_xlabel("training steps")
    ax.set_ylabel("validation alignment error (%)")
    ax.set_title("mean over seeds (shaded: ± std); dotted: thresholds, dashed: 8% goal",
                 fontsize=8)  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table_json(results: dict[str, list[dict]], thresholds: list[float], budget: dict) -> dict:
    """table.json: the budget, and per row its flags, every seed's summary and each
    column's :func:`spread` over the seeds."""
    rows = {}
    for row, runs in results.items():
        columns = {
            key: spread([r[key] for r in runs])
            for key in (
                "parameters", "iterations", "wall_s", "alignment_error",
                "classification_error", "triplet_accuracy", "triplet_accuracy_margin",
                "joint_probe_r2",
            )
        }  # fmt: skip
        for attribute in ATTRIBUTES:
            values = column(runs, "classification_error", attribute)
            columns[f"classification_error_{attribute}"] = spread(values)
        for threshold in thresholds:
            hits = to_threshold(runs, threshold)
            for key in ("iterations", "wall_s"):
                columns[f"{key}_to_{threshold_key(threshold)}"] = spread([h[key] for h in hits])
        rows[row] = {"row_flags": ROWS.get(row), "seeds": column(runs, "seed"),
                     "columns": columns, "runs": runs}  # fmt: skip
    runs = every_run(results)
    floors = {
        key: {
            "classification_error": spread(column(runs, f"classification_error_{key}")),
            **{
                attribute: spread(column(runs, f"classification_error_{key}", attribute))
                for attribute in ATTRIBUTES
            },
        }
        for key in FLOORS
    }
    return {
        "budget": budget,
        "thresholds": thresholds,
        "classification_floors": floors if has_floors(runs) else None,
        "rows": rows,
    }


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="multi-view dataset")
    parser.add_argument("--out", type=Path, required=True, help="directory for the runs")
    parser.add_argument(
        "--rows",
        nargs="+",
        default=SEED_ROWS,
        choices=list(ROWS),
        help=f"default: the seed's, {' '.join(SEED_ROWS)}",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--preset", default="contrastive")
    parser.add_argument("--loss", default="npairs", choices=["npairs", "triplet"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=float,
        default=[0.15, 0.12],
        help="alignment errors to report the time to reach (default 0.15 0.12)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="runs trained at once, each a subprocess logging to OUT/logs/ (default 1; with "
        "2 on 2 cores add --extra --threads 1)",
    )
    parser.add_argument(
        "--extra", nargs=argparse.REMAINDER, default=[], help="more train-embedding flags (last)"
    )
    args = parser.parse_args()
    if args.parallel < 1:
        parser.error(f"--parallel must be at least 1, got {args.parallel}")
    args.out.mkdir(parents=True, exist_ok=True)
    runs, failed = train_all(args, [(row, seed) for row in args.rows for seed in args.seeds])
    results: dict[str, list[dict]] = {}
    for (row, seed), run in runs.items():
        summary = summarise(run, seed, run_flags(args, row, seed), args.thresholds)
        results.setdefault(row, []).append(summary)
    budget = {
        "data": str(args.data), "epochs": args.epochs, "eval_every": args.eval_every,
        "loss": args.loss, "preset": args.preset, "extra": args.extra,
    }  # fmt: skip
    if results:
        text = table(results, args.thresholds, budget)
        trend_text = trend_table(results)
        if trend_text:
            text += "\n\nAlignment error against training steps (validation):\n\n" + trend_text
            plot_trend(results, args.thresholds, args.out / "trend.png")
        (args.out / "table.md").write_text(text + "\n")
        data = table_json(results, args.thresholds, budget)
        (args.out / "table.json").write_text(json.dumps(data, indent=2) + "\n")
        print(text)
    if failed:
        names = " ".join(f"{row}_s{seed}" for row, seed in failed)
        sys.exit(f"failed, see the output above or {args.out}/logs/: {names}")


if __name__ == "__main__":
    main()
