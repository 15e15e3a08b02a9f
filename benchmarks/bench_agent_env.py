"""Environment steps per second: batched TCN reward vs the unbatched path vs the raw simulator.

All in one run, same demonstrations, same camera, same number of environments:

* raw simulator: ``KukaSim.step`` + ``render`` of the demonstration camera, no reward,
  one process per environment (SubprocVecEnv of a bare env) — the ceiling;
* unbatched: every ImitationEnv embeds its own frame (one forward pass per env per step);
* batched: envs only simulate and render; ``BatchedEmbeddingReward`` embeds all frames
  of a step in one forward pass in the main process.

Usage::

    python benchmarks/bench_agent_env.py --embedding runs/tcn_cpu --demos data/paper
    python benchmarks/bench_agent_env.py --embedding runs/tcn_cpu --demos data/paper \\
        --n-envs 2 4 8 --vec-env subproc --steps 300
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from imitation_agent.train import AgentConfig, PPOSettings, make_vec_env
from kuka_sim import ControlMode, KukaSim, SimConfig
from tcn.demonstrations import embedder_of, load_demonstrations
from tcn.embedding_run import load_embedding_model


class RawSimEnv(gym.Env):
    """Step + render only: what the simulator costs without any reward."""

    def __init__(self, camera, sim_config: SimConfig, start: np.ndarray) -> None:
        self.camera, self.start = camera, start
        self.sim = KukaSim(
            SimConfig.from_dict(
                {**sim_config.to_dict(), "control_mode": ControlMode.POSITION_DELTA}
            )
        )
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (14,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (7,), np.float32)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        self.sim.reset(self.start)
        self.t = 0
        return np.zeros(14, np.float32), {}

    def step(self, action):
        self.sim.step(np.asarray(action, np.float64) * 0.1)
        self.sim.render(self.camera)
        self.t += 1
        return np.zeros(14, np.float32), 0.0, False, self.t >= 99, {}


def steps_per_s(venv, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    venv.reset()
    actions = rng.uniform(-1, 1, (steps, venv.num_envs, 7)).astype(np.float32)
    venv.step(actions[0])
    start = time.perf_counter()
    for a in actions[1:]:
        venv.step(a)
    return (steps - 1) * venv.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True)
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--n-envs", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--vec-env", choices=["subproc", "dummy"], default="subproc")
    parser.add_argument("--steps", type=int, default=200, help="vector steps per measurement")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    model = load_embedding_model(args.embedding)
    demos = load_demonstrations(args.demos, "train", model, limit=8)
    embed = embedder_of(model)
    results = []
    print(f"{len(demos)} demos, camera {demos[0].camera.width} px, {args.vec_env} vec env")
    print(
        "| envs | raw sim (steps/s) | unbatched TCN reward | batched TCN reward | "
        "batched / unbatched | batched / raw |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.n_envs:

        def raw_factory(i=0):
            return lambda: RawSimEnv(demos[i].camera, demos[i].sim, demos[i].joint_positions[0])

        cls = SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv
        kwargs = {"start_method": "forkserver"} if cls is SubprocVecEnv else {}
        raw = cls([raw_factory(i % len(demos)) for i in range(n)], **kwargs)
        raw_sps = steps_per_s(raw, args.steps)
        raw.close()
        row = {"n_envs": n, "raw": raw_sps}
        for batched in (False, True):
            config = AgentConfig(
                ppo=PPOSettings(n_envs=n), vec_env=args.vec_env, batched_reward=batched
            )
            venv = make_vec_env(demos, config, embed)
            row["batched" if batched else "unbatched"] = steps_per_s(venv, args.steps)
            venv.close()
        results.append(row)
        print(
            f"| {n} | {row['raw']:.0f} | {row['unbatched']:.0f} | {row['batched']:.0f} | "
            f"{row['batched'] / row['unbatched']:.2f} | {row['batched'] / row['raw']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
