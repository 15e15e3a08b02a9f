"""The SMAK-Net table's summary and formatting (benchmarks/smak_table.py) on synthetic runs:
mean ± std over seeds, the time to each alignment threshold with seeds that missed it, and
the classification error's floors on reach data. No training."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "smak_table.py"


@pytest.fixture(scope="module")
def smak_table():
    spec = importlib.util.spec_from_file_location("smak_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def history(alignment: list[float | None], steps_per_epoch: int = 32) -> list[dict]:
    """One record per epoch, ``val/alignment_error`` where it is not None, 60 s an epoch."""
    records = []
    for epoch, error in enumerate(alignment, start=1):
        record = {"epoch": epoch, "train/steps": float(epoch * steps_per_epoch)}
        if error is not None:
            record["val/alignment_error"] = error
        record["time/wall_s"] = 60.0 * epoch
        records.append(record)
    return records


def reach_metrics(alignment: float, classification: float) -> dict:
    return {
        "alignment_error": alignment,
        "triplet_accuracy": 0.93,
        "triplet_accuracy_margin": 0.87,
        "joint_probe_r2": -0.2,
        "classification_error": classification,
        "classification_error_per_attribute": {"target": classification - 0.1, "phase": 0.5},
        "classification_error_floor": 0.024,
        "classification_error_floor_per_attribute": {"target": 0.002, "phase": 0.046},
        "classification_error_random": 0.728,
        "classification_error_random_per_attribute": {"target": 0.843, "phase": 0.613},
    }


def summaries(smak_table, metrics: list[dict], histories: list[list[dict]]) -> list[dict]:
    thresholds = [0.15, 0.12]
    return [
        {"run": f"s{seed}", "seed": seed, "flags": ["--seed", str(seed)]}
        | smak_table.summarise_metrics(m, h, thresholds, parameters=1_400_000)
        for seed, (m, h) in enumerate(zip(metrics, histories, strict=True))
    ]


BUDGET = {"data": "data/reach", "epochs": 3, "eval_every": 1, "loss": "npairs",
          "preset": "contrastive", "extra": []}  # fmt: skip


@pytest.fixture()
def reach_results(smak_table):
    """Two rows on reach data: tcn over three seeds (two reach 15%, none 12%), att123 over
    one seed (reaches both)."""
    tcn = summaries(
        smak_table,
        [reach_metrics(0.14, 0.40), reach_metrics(0.13, 0.42), reach_metrics(0.18, 0.44)],
        [history([0.2, 0.14, 0.14]), history([0.16, 0.13, 0.13]), history([0.2, 0.19, 0.18])],
    )
    att123 = summaries(smak_table, [reach_metrics(0.10, 0.38)], [history([0.13, None, 0.10])])
    return {"tcn": tcn, "att123": att123}


def row_cells(text: str, row: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {row} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_mean_std_uses_n_minus_one_and_drops_the_spread_for_one_seed(smak_table):
    assert smak_table.mean_std([0.1, 0.2, 0.3], scale=100, unit="%") == "20.0 ± 10.0%"
    assert smak_table.mean_std([0.1], scale=100, unit="%") == "10.0%"
    assert smak_table.mean_std([1, None, 3], digits=0) == "2 ± 1"
    assert smak_table.mean_std([None, None]) == "—"
    assert smak_table.common([1280, 1280]) == "1280"
    assert smak_table.common([1000, 1200]) == "1100 ± 141"


def test_time_to_thresholds_is_the_first_evaluation_at_or_below(smak_table):
    reached = smak_table.time_to_thresholds(history([0.2, None, 0.15, 0.1]), [0.15, 0.12, 0.05])
    assert reached == {
        "0.15": {"iterations": 96, "wall_s": 180.0},
        "0.12": {"iterations": 128, "wall_s": 240.0},
        "0.05": {"iterations": None, "wall_s": None},
    }


def test_reached_cell_counts_the_seeds_that_reached(smak_table, reach_results):
    tcn = reach_results["tcn"]
    # 15%: seeds 0 and 1 at 64 steps / 2 min; seed 2 never
    assert smak_table.reached_cell(tcn, 0.15) == "64 ± 0 / 2.0 ± 0.0 min (2/3 seeds)"
    assert smak_table.reached_cell(tcn, 0.12) == "not reached"
    assert smak_table.reached_cell(reach_results["att123"], 0.12) == "96 / 3.0 min"


def test_table_on_reach_data_shows_mean_std_and_the_floors(smak_table, reach_results):
    text = smak_table.table(reach_results, [0.15, 0.12], BUDGET)
    assert "3 epochs = 96 steps, loss npairs, preset `contrastive`" in text.splitlines()[0]
    reused = {"tcn": reach_results["tcn"], "longer": [{**reach_results["att123"][0], "epochs": 4}]}
    budget = smak_table.table(reused, [0.15], BUDGET).splitlines()[0]
    assert "3-4 epochs (asked for 3) = 96 steps" in budget
    header = next(line for line in text.splitlines() if line.startswith("| model |"))
    assert "classification error (floor 2.4%, random 72.8%)" in header
    assert "to 15.0% alignment" in header and "to 12.0% alignment" in header
    tcn = row_cells(text, "tcn")
    assert len(tcn) == len(header.strip("|").split("|"))
    assert tcn[1:6] == ["3", "1.40M", "96", "15.0 ± 2.6%", "42.0 ± 2.0%"]
    assert tcn[6] == "930 ± 0 / 870 ± 0"  # triplet accuracy, then with the margin
    assert tcn[7].endswith("(2/3 seeds)") and tcn[8] == "not reached"
    assert row_cells(text, "att123")[4:6] == ["10.0%", "38.0%"]
    assert (
        "exact joints 2.4% (target 0.2%, phase 4.6%); "
        "random embedding 72.8% (target 84.3%, phase 61.3%)" in text
    )


def test_table_without_classification_shows_a_dash(smak_table):
    metrics = [{"alignment_error": e, "triplet_accuracy": 0.9} for e in (0.14, 0.16)]
    results = {"tcn": summaries(smak_table, metrics, [history([0.14]), history([0.16])])}
    text = smak_table.table(results, [0.15, 0.12], BUDGET)
    header = next(line for line in text.splitlines() if line.startswith("| model |"))
    assert "floor" not in header
    assert row_cells(text, "tcn")[5] == "—"
    assert "No classification error" in text and "exact joints" not in text


def test_single_view_data_has_no_alignment_and_no_time_to_reach_it(smak_table):
    """One view: no alignment error anywhere in the history, so no threshold is "not
    reached" and the seed's multi-view rows are left out; both triplet accuracies (the
    paper's single-view metric) are shown."""
    metrics = {"triplet_accuracy": 0.979, "triplet_accuracy_margin": 0.924}
    results = {"tcn_resnet": summaries(smak_table, [metrics], [history([None, None])])}
    text = smak_table.table(results, [0.15, 0.12], BUDGET)
    cells = row_cells(text, "tcn_resnet")
    assert cells[4] == "—" and cells[6] == "979 / 924" and cells[7:] == ["—", "—"]
    assert "no reach dataset (one view only)" in text
    assert "seed:" not in text  # the seed's rows are multi-view figures


def test_table_json_keeps_every_seed_flags_and_attributes(smak_table, reach_results):
    data = smak_table.table_json(reach_results, [0.15, 0.12], BUDGET)
    json.dumps(data)  # writable as is
    tcn = data["rows"]["tcn"]
    assert tcn["row_flags"] == smak_table.ROWS["tcn"]
    assert tcn["seeds"] == [0, 1, 2]
    assert [r["flags"] for r in tcn["runs"]][1] == ["--seed", "1"]
    alignment = tcn["columns"]["alignment_error"]
    assert alignment["values"] == [0.14, 0.13, 0.18]
    assert alignment["std"] == pytest.approx(statistics.stdev([0.14, 0.13, 0.18]))
    assert tcn["columns"]["classification_error_target"]["mean"] == pytest.approx(0.32)
    assert tcn["columns"]["iterations_to_0.15"]["values"] == [64, 64, None]
    assert tcn["columns"]["iterations_to_0.15"]["n"] == 2
    assert tcn["runs"][0]["classification_error_per_attribute"] == pytest.approx(
        {"target": 0.3, "phase": 0.5}
    )
    floors = data["classification_floors"]
    assert floors["floor"]["phase"]["mean"] == pytest.approx(0.046)
    assert floors["random"]["classification_error"]["mean"] == pytest.approx(0.728)
    assert data["budget"] == BUDGET and data["thresholds"] == [0.15, 0.12]


def test_trend_is_each_row_s_mean_alignment_at_every_evaluated_step(
    smak_table, reach_results, tmp_path
):
    text = smak_table.trend_table(reach_results)
    header = text.splitlines()[0]
    assert header == "| model | 32 steps | 64 steps | 96 steps |"
    # tcn: (0.2, 0.16, 0.2), (0.14, 0.13, 0.19), (0.14, 0.13, 0.18) over seeds 0, 1, 2
    assert row_cells(text, "tcn")[1:] == ["18.7 ± 2.3%", "15.3 ± 3.2%", "15.0 ± 2.6%"]
    # att123 was not evaluated at 64 steps
    assert row_cells(text, "att123")[1:] == ["13.0%", "—", "10.0%"]
    smak_table.plot_trend(reach_results, [0.15, 0.12], tmp_path / "trend.png")
    assert (tmp_path / "trend.png").stat().st_size > 0
    assert smak_table.trend_table({"tcn": [{"alignment_curve": []}]}) == ""


@pytest.mark.parametrize(
    ("extra", "parallel", "threads"),
    [
        (["--threads", "1"], 2, "1"),  # the training's own setting
        (["--device", "cpu", "--threads=3"], 1, "3"),
        ([], 2, "2"),  # a share of the 4 cores
        ([], 1, None),  # alone: torch's default
    ],
)
def test_each_evaluation_takes_the_runs_share_of_the_cores(
    smak_table, tmp_path, monkeypatch, extra, parallel, threads
):
    calls = []
    monkeypatch.setattr(smak_table, "tcn", lambda *args, log=None: calls.append(args))
    monkeypatch.setattr(smak_table.os, "cpu_count", lambda: 4)
    run = tmp_path / "runs" / "att13_s0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    (run / "history.jsonl").write_text(json.dumps({"epoch": 3}) + "\n")
    args = smak_table.argparse.Namespace(
        out=tmp_path / "runs", data=tmp_path / "reach", epochs=3, parallel=parallel,
        extra=extra, preset="contrastive", loss="npairs", eval_every=1,
    )  # fmt: skip
    smak_table.train_and_evaluate(args, "att13", 0)
    (command,) = calls  # trained already: only the evaluation
    assert command[0] == "evaluate-embedding"
    given = command[command.index("--threads") + 1] if "--threads" in command else None
    assert given == threads
