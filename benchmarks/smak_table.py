"""The SMAK-Net ablation table on our multi-view data: multi-view TCN against each variant.

Shaped like the seed's two tables (Ramachandrani et al.): multi-view TCN and SMAK-Net
``att12 / att13 / att23 / att123``, then ``extended / softmax / resnet``, with parameters,
iterations, alignment error and classification error on the validation episodes, and the
iterations and training wall time each first reached ``--threshold`` alignment error (the
seed's claim is faster convergence). Every row trains with the same loss, budget, data and
seed through ``tcn train-embedding`` and is scored by ``tcn evaluate-embedding`` (the
metrics of ARCHITECTURE.md), so the table is what those commands give. Finished runs are
reused and interrupted ones resumed, so the script can be stopped and re-run.

Usage::

    tcn record --out data/mv3s --episodes 200 --val-episodes 10 --views 3 --image-size 96 \
        --workers 2 --joint-timing staggered
    python benchmarks/smak_table.py --data data/mv3s --out runs/smak_table --epochs 40
    python benchmarks/smak_table.py --data data/mv3s --out runs/smak_table --rows tcn att123 \
        --seeds 0 1

Writes ``OUT/table.md`` and ``OUT/table.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
}  # fmt: skip

SEED_TABLE = [  # the seed's reported numbers, for the table's first rows
    ("seed: multi-view TCN", "—", "224k", 0.175, 0.193),
    ("seed: SMAK-Net", "~1.08M", "69k", 0.109, 0.161),
]


def tcn(*args: str) -> None:
    command = [sys.executable, "-m", "tcn", *args]
    print("+", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)


def train_and_evaluate(args: argparse.Namespace, row: str, seed: int) -> Path:
    run = args.out / f"{row}_s{seed}"
    flags = [
        "--preset", args.preset, "--objectives.loss", args.loss,
        "--schedule.epochs", str(args.epochs), "--schedule.eval-every", str(args.eval_every),
        "--seed", str(seed), "--no-progress",
        *args.extra, *ROWS[row],
    ]  # fmt: skip
    last, metrics = run / "checkpoints" / "last.pt", run / "eval" / "metrics.json"
    resume = ["--resume"] if last.exists() else []
    tcn("train-embedding", "--data", str(args.data), "--out", str(run), *flags, *resume)
    if not metrics.exists() or metrics.stat().st_mtime < last.stat().st_mtime:
        tcn("evaluate-embedding", "--model", str(run), "--data", str(args.data), "--out",
            str(run / "eval"))  # fmt: skip
    return run


def parameters(run: Path) -> int:
    """Parameters of the trained network (what ``tcn train-embedding`` logs)."""
    from tcn.embedding_run import load_embedding_model

    model = load_embedding_model(run)
    return sum(p.numel() for p in model.parameters())


def first_reaching(history: list[dict], key: str, threshold: float) -> dict | None:
    """The first evaluated record with ``history[key] <= threshold`` (None if never)."""
    for record in history:
        if key in record and record[key] <= threshold:
            return record
    return None


def summarise(run: Path, threshold: float) -> dict:
    from tcn.runs import read_history

    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    history = read_history(run)
    reached = first_reaching(history, "val/alignment_error", threshold)
    last = history[-1]
    return {
        "run": str(run),
        "parameters": parameters(run),
        "iterations": int(last["train/steps"]),
        "wall_s": last.get("time/wall_s"),
        "alignment_error": metrics.get("alignment_error"),
        "classification_error": metrics.get("classification_error"),
        "triplet_accuracy": metrics.get("triplet_accuracy"),
        "triplet_accuracy_margin": metrics.get("triplet_accuracy_margin"),
        "iterations_to_threshold": int(reached["train/steps"]) if reached else None,
        "wall_s_to_threshold": reached.get("time/wall_s") if reached else None,
    }


def mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def table(results: dict[str, list[dict]], threshold: float) -> str:
    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    def reached(rows: list[dict]) -> str:
        hits = [r for r in rows if r["iterations_to_threshold"] is not None]
        if not hits:
            return "not reached"
        its = mean([r["iterations_to_threshold"] for r in hits])
        wall = mean([r["wall_s_to_threshold"] for r in hits])
        share = "" if len(hits) == len(rows) else f" ({len(hits)}/{len(rows)} seeds)"
        return f"{its:.0f} / {wall / 60:.1f} min{share}"

    lines = [
        f"| model | seeds | parameters | iterations | alignment error | classification error "
        f"| triplet accuracy (view 0) | iterations / wall time to {pct(threshold)} alignment |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, params, its, align, cls in SEED_TABLE:
        lines.append(f"| {name} | | {params} | {its} | {pct(align)} | {pct(cls)} | | |")
    for row, rows in results.items():
        size = f"{rows[0]['parameters'] / 1e6:.2f}M"
        lines.append(
            f"| {row} | {len(rows)} | {size} | {rows[0]['iterations']} "
            f"| {pct(mean([r['alignment_error'] for r in rows]))} "
            f"| {pct(mean([r['classification_error'] for r in rows]))} "
            f"| {mean([r['triplet_accuracy'] for r in rows]) * 1000:.0f} | {reached(rows)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="multi-view dataset")
    parser.add_argument("--out", type=Path, required=True, help="directory for the runs")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--preset", default="contrastive")
    parser.add_argument("--loss", default="npairs", choices=["npairs", "triplet"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.15, help="alignment error to reach")
    parser.add_argument(
        "--extra", nargs=argparse.REMAINDER, default=[], help="more train-embedding flags (last)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for row in args.rows:
        for seed in args.seeds:
            run = train_and_evaluate(args, row, seed)
            results.setdefault(row, []).append(summarise(run, args.threshold))
    text = table(results, args.threshold)
    (args.out / "table.md").write_text(text + "\n")
    (args.out / "table.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
