"""Can PPO learn to follow a demonstration when the pose is read perfectly? Settings compared.

The learner in isolation: the imitation env's ground-truth setting (``--reward oracle
--pose-features --pose-source truth``) without the frames it does not need. The
observation comes from the env's own :func:`imitation_agent.env.build_observation`
(joints, velocities, pose features from the truth, ``t/T``; no embeddings), actions are
the env's (position deltas, or torques on top of gravity compensation) and the reward its
oracle, ``-||q_t - q*_t||``. Settings also compare the action spaces and the observation
options (time index, look-ahead, the pose-error slot). Without
rendering this runs ~10x faster than the full env, so PPO settings can be swept on two
cores in minutes. Each setting trains on the dataset's training demonstrations and is
scored (deterministic policy) on its held-out ones, with the reference laws beside it:
the proportional law ``a = clip((q*_{t+1} - q) / delta)`` and idle.

Usage::

    python benchmarks/ppo_tracking.py --demos data/tool --timesteps 150000
    python benchmarks/ppo_tracking.py --demos data/tool --settings cpu old --seeds 0 1
    python benchmarks/ppo_tracking.py --demos data/tool --settings torque no_time no_lookahead

Writes a markdown table (and ``--json`` the numbers).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from imitation_agent.env import (
    SUCCESS_THRESHOLD,
    EnvConfig,
    apply_action,
    build_observation,
    observation_layout,
)
from imitation_agent.evaluate import ServoPolicy
from imitation_agent.train import AgentConfig
from kuka_sim import KukaSim, SimConfig
from tcn.bags import read_episode
from tcn.dataset import episode_paths
from tcn.presets import load

# name -> (overrides of the cpu preset, keep the pose_error slot). Overrides may touch the
# env (action, lookahead, time_feature) as well as PPO.
SETTINGS = {
    "cpu": ({}, True),
    "cpu_no_pose_error": ({}, False),
    "old": ({"gamma": 0.95, "log_std_init": -1.0}, True),  # session 2's cpu preset
    "old_gamma": ({"gamma": 0.95}, True),
    "old_std": ({"log_std_init": -1.0}, True),
    "torque": ({"action": "torque"}, True),  # the paper's action space, servos off
    "no_time": ({"time_feature": False}, True),
    "no_lookahead": ({"lookahead": 0}, True),  # pose target at t instead of t + 1
}


class TrackingEnv(gym.Env):
    """The imitation env's ground-truth setting, without frames or embeddings."""

    def __init__(self, demos: list[np.ndarray], config: EnvConfig, pose_error: bool) -> None:
        self.demos = demos
        self.config = dataclasses.replace(
            config, reward="oracle", pose_features=True, pose_source="truth"
        )
        self.layout = observation_layout(0, self.config)
        keep = np.ones(self.layout.size, bool)
        keep[self.layout.pose_error] = pose_error
        self.keep = keep
        self.sim = KukaSim(
            SimConfig(
                control_mode=self.config.control_mode,
                max_position_delta=config.max_position_delta,
            )
        )
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (int(keep.sum()),), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)
        self.no_embeddings = np.zeros((max(len(d) for d in demos), 0), np.float32)

    def _obs(self) -> np.ndarray:
        q, qd = self.sim.joint_state()
        demo = self.demo
        obs = build_observation(
            self.layout,
            self.config.lookahead,
            q,
            qd,
            None,
            self.no_embeddings[: len(demo)],
            self.t,
            None,
            demo,
        )
        return obs[self.keep]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        index = options["demo"] if options else int(self.np_random.integers(len(self.demos)))
        self.demo, self.t = self.demos[index], 0
        self.sim.reset(self.demo[0])
        return self._obs(), {}

    def step(self, action):
        apply_action(self.sim, self.config, action)
        self.t += 1
        error = float(np.linalg.norm(self.sim.joint_positions() - self.demo[self.t]))
        return self._obs(), -error, False, self.t >= len(self.demo) - 1, {"error": error}


def score(env: TrackingEnv, act) -> dict[str, float]:
    """Success rate, mean and final joint error of ``act(obs) -> action`` on every demo."""
    finals, means = [], []
    for i in range(len(env.demos)):
        obs, _ = env.reset(options={"demo": i})
        errors, done = [], False
        while not done:
            obs, _, _, done, info = env.step(act(obs))
            errors.append(info["error"])
        finals.append(errors[-1])
        means.append(np.mean(errors))
    finals = np.asarray(finals)
    return {
        "success_rate": float(np.mean(finals < SUCCESS_THRESHOLD)),
        "mean_joint_error": float(np.mean(means)),
        "final_joint_error": float(finals.mean()),
    }


def train(config: AgentConfig, train_demos, val_env, pose_error, timesteps, evals):
    env = VecNormalize(
        DummyVecEnv(
            [lambda: TrackingEnv(train_demos, config.env_config(), pose_error)] * config.n_envs
        ),
        gamma=config.gamma,
    )
    kwargs = {**config.ppo_kwargs(), "device": "cpu"}
    model = PPO("MlpPolicy", env, verbose=0, **kwargs)
    curve, start = [], time.perf_counter()
    for _ in range(evals):
        model.learn(timesteps // evals, reset_num_timesteps=False)
        env.training = False

        def act(obs):
            return model.predict(env.normalize_obs(obs[None]), deterministic=True)[0][0]

        curve.append({"timesteps": model.num_timesteps, **score(val_env, act)})
        env.training = True
        print(json.dumps(curve[-1]), flush=True)
    return curve, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--timesteps", type=int, default=150_000)
    parser.add_argument("--evals", type=int, default=5, help="evaluations along the run")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)

    joints = {
        s: [read_episode(p).joint_positions for p in episode_paths(args.demos, s)]
        for s in ("train", "val")
    }
    cpu = load("agent", "cpu")
    val_env = TrackingEnv(joints["val"], AgentConfig.from_dict(cpu).env_config(), True)
    rows = [
        ("proportional law", score(val_env, ServoPolicy(val_env)), None),
        ("idle", score(val_env, lambda o: np.zeros(7)), None),
    ]
    results = {"references": {name: r for name, r, _ in rows}, "ppo": []}
    for name in args.settings:
        overrides, pose_error = SETTINGS[name]
        for seed in args.seeds:
            config = AgentConfig.from_dict({**cpu, **overrides, "seed": seed})
            val = TrackingEnv(joints["val"], config.env_config(), pose_error)
            print(f"# {name} seed {seed}", flush=True)
            curve, seconds = train(
                config, joints["train"], val, pose_error, args.timesteps, args.evals
            )
            to_80 = next((c["timesteps"] for c in curve if c["success_rate"] >= 0.8), None)
            results["ppo"].append(
                {
                    "setting": name,
                    "seed": seed,
                    "gamma": config.gamma,
                    "log_std_init": config.log_std_init,
                    "pose_error": pose_error,
                    "overrides": overrides,
                    "seconds": seconds,
                    "steps_to_80": to_80,
                    "curve": curve,
                }
            )
            rows.append(
                (
                    f"PPO `{name}` seed {seed} ({overrides or 'the cpu preset'}, pose error "
                    f"{'on' if pose_error else 'off'})",
                    curve[-1],
                    to_80,
                )
            )
    print(
        f"\n{len(joints['train'])} training / {len(joints['val'])} held-out demonstrations "
        f"({args.demos}), {args.timesteps} steps per PPO run\n"
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
