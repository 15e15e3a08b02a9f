"""Can PPO learn to follow a demonstration? Settings of the learner compared, on the TCN reward
or the oracle.

Each setting is the ``default`` agent preset with a few fields changed (the actor, how
training episodes start and end, the action space, the observation, PPO's horizon and
exploration), trained on the dataset's training demonstrations by
:func:`tcn.agent_run.train_agent_run` (the code of ``tcn train-agent``) and scored
(deterministic policy) on its held-out ones by :func:`tcn.agent_eval.evaluate_agent_run`
(``tcn evaluate-agent``) every ``--timesteps / --evals`` steps, resuming the run in
between. The demonstrations are read by their recorded joints (``--train-reader
recorded``, and the same reader for the held-out ones), so what is measured is the learner,
not the reading. ``--reward tcn`` (the default) is the product's reward; ``--reward oracle``
(``-||q_t - q*_t||``, simulator ground truth) isolates the learner from it too. The
reference laws are scored in the same run by the same evaluation: the ``servo`` baseline,
the proportional law ``a = clip((q*_{t+1} - q) / delta)`` on the recorded joints, and
``idle``.

Usage::

    python experiments/ppo_tracking.py --embedding runs/tcn --demos data/demos \
        --timesteps 20000 --evals 2 --settings default mlp_actor --seeds 0 1 2
    python experiments/ppo_tracking.py --embedding runs/tcn --demos data/demos \
        --reward oracle --settings default old

Writes each run to ``--out/<setting>_seed<seed>/`` (with its evaluations in ``eval_<steps>/``),
a markdown table to stdout and, with ``--json``, the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from imitation_agent.train import AgentConfig
from tcn.agent_eval import evaluate_agent_run
from tcn.agent_run import train_agent_run
from tcn.presets import load, merged

# name -> overrides of the default preset, by section. Overrides may touch the env (action),
# the observation (lookahead, time_feature) as well as PPO.
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    # one network over the whole observation, not per joint
    "mlp_actor": {"policy": {"actor": "mlp"}},
    # from frame 0, to the end
    "whole_episodes": {"env": {"random_start": False, "cut_distance": 0.0}},
    # session 11's preset: MLP actor, whole episodes, std 1, lr 3e-4, 256-step rollouts
    "session11": {
        "policy": {"actor": "mlp", "log_std_init": 0.0},
        "env": {"random_start": False, "cut_distance": 0.0},
        "ppo": {"learning_rate": 3e-4, "n_steps": 256},
    },
    "old": {"ppo": {"gamma": 0.95}, "policy": {"log_std_init": -1.0}},  # session 2's cpu preset
    "old_gamma": {"ppo": {"gamma": 0.95}},
    "old_std": {"policy": {"log_std_init": -1.0}},
    "torque": {"env": {"action": "torque"}},  # the paper's action space, servos off
    "no_time": {"observation": {"time_feature": False}},
    "no_lookahead": {"observation": {"lookahead": 0}},  # pose target at t instead of t + 1
}

# What every setting shares: the true pose observed (the recorded reader), no raw embeddings.
TRACKING = {
    "observation": {
        "pose_features": True,
        "pose_source": "reading",
        "train_reader": "recorded",
        "embedding_obs": False,
    },
    "device": "cpu",
}

SCORES = ("success_rate", "mean_joint_error", "final_joint_error")


def scores(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers of an evaluation this script reports."""
    return {key: metrics[key] for key in SCORES}


def train(
    embedding: Path, demos: Path, run: Path, values: dict[str, Any], timesteps: int, evals: int
) -> tuple[list[dict[str, Any]], float]:
    """Train ``values`` (an agent config as a dict) in ``run``, scored on the held-out
    demonstrations every ``timesteps / evals`` steps; the curve and the training seconds."""
    curve, seconds = [], 0.0
    for k in range(1, evals + 1):
        config = AgentConfig.from_dict(
            merged(values, {"ppo": {"timesteps": timesteps * k // evals}})
        )
        summary = train_agent_run(embedding, demos, run, config, resume=k > 1, progress=False)
        seconds += summary.get("seconds", 0.0)
        metrics = evaluate_agent_run(
            run, demos, run / f"eval_{summary['timesteps']}", reader="recorded", video=False
        )
        curve.append({"timesteps": summary["timesteps"], **scores(metrics)})
        print(json.dumps(curve[-1]), flush=True)
    return curve, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--embedding", type=Path, required=True, help="TCN run or checkpoint the env embeds with"
    )
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--timesteps", type=int, default=150_000)
    parser.add_argument("--evals", type=int, default=5, help="evaluations along the run")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--out", type=Path, default=Path("runs/ppo_tracking"), help="where the runs go"
    )
    parser.add_argument("--reward", choices=("tcn", "oracle"), default="tcn")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    taken = [
        run
        for run in (args.out / f"{n}_seed{s}" for n in args.settings for s in args.seeds)
        if run.exists()
    ]
    if taken:
        parser.error(f"{', '.join(map(str, taken))} already exist; pick another --out")
    torch.set_num_threads(1)

    references = {
        "proportional law": ("servo", "baseline_servo"),
        "idle": ("idle", "baseline_idle"),
    }
    rows = []
    for name, (baseline, folder) in references.items():
        metrics = evaluate_agent_run(
            None,
            args.demos,
            args.out / folder,
            baseline=baseline,
            embedding=args.embedding,
            reader="recorded",
            video=False,
        )
        rows.append((name, scores(metrics), None))
    held_out = len(metrics["demos"])
    results: dict[str, Any] = {"references": {name: r for name, r, _ in rows}, "ppo": []}
    preset = load("agent", "default")
    for name in args.settings:
        overrides = SETTINGS[name]
        for seed in args.seeds:
            values = merged(merged(preset, overrides), TRACKING)
            values = merged(values, {"reward": {"kind": args.reward}, "seed": seed})
            print(f"# {name} seed {seed}", flush=True)
            curve, seconds = train(
                args.embedding,
                args.demos,
                args.out / f"{name}_seed{seed}",
                values,
                args.timesteps,
                args.evals,
            )
            to_80 = next((c["timesteps"] for c in curve if c["success_rate"] >= 0.8), None)
            results["ppo"].append(
                {
                    "setting": name,
                    "seed": seed,
                    "gamma": values["ppo"]["gamma"],
                    "log_std_init": values["policy"]["log_std_init"],
                    "overrides": overrides,
                    "seconds": seconds,
                    "steps_to_80": to_80,
                    "curve": curve,
                }
            )
            rows.append(
                (
                    f"PPO `{name}` seed {seed} ({overrides or 'the default preset'})",
                    curve[-1],
                    to_80,
                )
            )
    print(
        f"\n{held_out} held-out demonstrations ({args.demos}), {args.timesteps} steps per PPO "
        f"run on the {args.reward} reward\n"
    )
    print("| policy | success | mean joint error | final joint error | steps to 80% |")
    print("|---|---|---|---|---|")
    for name, r, to_80 in rows:
        print(
            f"| {name} | {r['success_rate']:.0%} | {r['mean_joint_error']:.3f} rad | "
            f"{r['final_joint_error']:.3f} rad | {to_80 or '-'} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
