"""`tcn quickstart` at tiny sizes: every stage runs, the report holds the numbers, it resumes."""

from __future__ import annotations

import json

from tcn.cli import main

TINY = [
    "--episodes",
    "3",
    "--val-episodes",
    "1",
    "--frames",
    "36",
    "--image-size",
    "32",
    "--embedding-epochs",
    "1",
    "--agent-steps",
    "64",
    "--n-envs",
    "1",
    "--workers",
    "1",
    "--no-progress",
]


def test_quickstart_runs_every_stage_and_resumes(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), *TINY]) == 0
    report = (out / "report.md").read_text()
    assert "| PPO on the TCN reward |" in report and "| random |" in report
    assert "| replay of the demonstration's joints (harness check) | 100% |" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baselines"]["replay"]["success_rate"] == 1.0
    assert 0.0 <= summary["embedding"]["triplet_accuracy"] <= 1.0
    for picture in (
        "embedding/eval/tsne.png",
        "agent/eval/side_by_side.gif",
        "agent/eval/rollout.png",
    ):
        assert (out / picture).stat().st_size > 0
    # A second run finds every stage done and only re-evaluates.
    stamp = (out / "agent" / "checkpoints" / "last.zip").stat().st_mtime_ns
    assert main(["quickstart", "--out", str(out), *TINY]) == 0
    assert (out / "agent" / "checkpoints" / "last.zip").stat().st_mtime_ns == stamp
