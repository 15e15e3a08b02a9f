"""`tcn quickstart` at tiny sizes: every stage of the recipe runs through the CLI, the report
and summary hold the numbers, and a second run resumes with nothing left to do."""

from __future__ import annotations

import json

from tcn.cli import main

TINY = [
    "--episodes",
    "3",
    "--val-episodes",
    "1",
    "--self-episodes",
    "2",
    "--frames",
    "36",
    "--pose-steps",
    "2",
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


def test_quickstart_runs_every_stage_and_resumes(tmp_path, monkeypatch):
    import tcn.quickstart

    # The tiny run reads with cheap settings; the stage and its cache are the same code.
    cheap = {"every": 10, "iterations": 2, "final_iterations": 2, "population": 4, "elites": 2}
    cheap |= {"refine_iterations": 2, "refine_turns": 1, "refine_pairs": 0}
    monkeypatch.setattr(tcn.quickstart, "READ_SETTINGS", cheap)
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), *TINY]) == 0
    report = (out / "report.md").read_text()
    for row in ("**PPO on the TCN reward**", "servo on the same reading", "idle", "random"):
        assert f"| {row}" in report
    assert "| replay of the recorded joints (harness check) | 100% |" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == summary["agent"]["success_rate"]
    assert summary["agent"]["reader"] == "render-compare"
    assert summary["reading"]["demos"] == 1 and 0 <= summary["reading"]["final_success_rate"] <= 1
    assert set(summary["baselines"]) == {"random", "idle", "replay", "servo"}
    assert summary["baselines"]["replay"]["success_rate"] == 1.0
    assert summary["config"]["pose_steps"] == 2
    assert (out / "self" / "dataset.yaml").is_file()
    assert 0.0 <= summary["embedding"]["triplet_accuracy"] <= 1.0
    for picture in (
        "embedding/eval/tsne.png",
        "agent/eval/side_by_side.gif",
        "agent/eval/rollout.png",
    ):
        assert (out / picture).stat().st_size > 0
    # A second run finds every stage done: nothing is trained or read again.
    stamps = {
        p: p.stat().st_mtime_ns
        for p in [
            out / "agent" / "checkpoints" / "last.zip",
            *out.glob("embedding/readings/*/*.npy"),
        ]
    }
    assert main(["quickstart", "--out", str(out), *TINY]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
