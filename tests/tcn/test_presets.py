"""The default presets are the built-in defaults, and the flags document their settings."""

from __future__ import annotations

import pytest

from imitation_agent.env import EnvConfig
from imitation_agent.train import AgentConfig
from tcn.cli import build_parser, main
from tcn.presets import available, load, setting_docs, settings
from tcn.quickstart import QuickstartConfig
from tcn.record import RecordConfig
from tcn.runs import flat_settings
from tcn_embedding.model import TCNConfig
from tcn_embedding.smak import SMAKConfig
from tcn_embedding.train import TrainConfig

KINDS = {
    "record": RecordConfig,
    "embedding": TrainConfig,
    "agent": AgentConfig,
    "quickstart": QuickstartConfig,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_default_preset_equals_the_built_in_defaults_and_names_every_field(kind):
    config_type = KINDS[kind]
    preset = load(kind, "default")
    assert config_type.from_dict(preset) == config_type()
    # It writes out every choice that makes the recipe, so the file alone says what it is.
    machinery = {"vec_env", "batched_reward", "seed", "device", "amp", "pose_joints"}
    smak_only = {"attention", "attention_normalization", "extended", "npairs_l2_reg"}
    missing = {n for n, _, _ in settings(config_type)} - set(flat_settings(preset))
    unnamed = {n for n in missing if n.rsplit(".", 1)[-1] not in machinery | smak_only}
    assert not unnamed, sorted(unnamed)


@pytest.mark.parametrize("kind", ["record", "embedding", "agent"])
def test_a_paper_preset_stays_and_differs_from_the_default(kind):
    assert {"default", "paper"} <= set(available(kind))
    paper = KINDS[kind].from_dict(load(kind, "paper"))
    assert paper != KINDS[kind]()
    assert "full" in available("quickstart")


def test_paper_presets_keep_the_papers_choices():
    embedding = TrainConfig.from_dict(load("embedding", "paper"))
    assert embedding.model.backbone == "inception" and embedding.model.image_size == 299
    assert embedding.objectives.self_regression == 0 and embedding.schedule.pose_steps == 0
    agent = AgentConfig.from_dict(load("agent", "paper"))
    assert agent.env.action == "torque" and agent.observation.embedding_obs
    assert not agent.observation.pose_features


@pytest.mark.parametrize(
    ("verb", "config_type", "more_docs"),
    [
        ("record", RecordConfig, ()),
        ("train-embedding", TrainConfig, (TCNConfig, SMAKConfig)),
        ("train-agent", AgentConfig, (EnvConfig,)),
        ("quickstart", QuickstartConfig, ()),
    ],
)
def test_every_setting_has_one_flag_with_its_docs_and_allowed_values(verb, config_type, more_docs):
    parser = build_parser(verb)
    sub = next(a for a in parser._actions if a.dest == "command").choices[verb]
    actions = {a.dest: a for a in sub._actions}
    docs = setting_docs(config_type, *more_docs)
    for name, _, _ in settings(config_type):
        assert name in docs, f"{config_type.__name__}: {name} has no docs"
        assert actions[name].help.startswith(docs[name].replace("%", "%%")[:40]), name
    choices = {n: actions[n].choices for n, _, _ in settings(config_type) if actions[n].choices}
    if verb == "train-agent":
        assert choices["reward.kind"] == ("tcn", "oracle", "pixels")
        assert "one of tcn, oracle, pixels" in actions["reward.kind"].help
    if verb == "train-embedding":
        assert "npairs" in choices["objectives.loss"]


def test_one_syntax_sets_nested_settings_over_the_preset(tmp_path, monkeypatch):
    """``--section.setting`` and ``--section.no-setting`` land in the config's sections, and
    settings not given keep the preset's values."""
    seen = {}

    def capture(embedding, demos, out, config, **kwargs):
        seen["config"] = config
        return {}

    monkeypatch.setattr("tcn.agent_run.train_agent_run", capture)
    base = ["train-agent", "--embedding", "e", "--demos", "d", "--out", str(tmp_path / "a")]
    flags = ["--preset", "paper", "--ppo.learning-rate", "3e-4", "--policy.net-arch", "8", "8"]
    flags += ["--observation.no-embedding-obs", "--env.action", "position_delta", "--seed", "3"]
    assert main([*base, *flags]) == 0
    config, paper = seen["config"], AgentConfig.from_dict(load("agent", "paper"))
    assert config.ppo.learning_rate == 3e-4 and config.policy.net_arch == (8, 8)
    assert not config.observation.embedding_obs and config.env.action == "position_delta"
    assert config.seed == 3 and config.ppo.n_envs == paper.ppo.n_envs == 16
    with pytest.raises(SystemExit):
        main([*base, "--reward.kind", "sparse"])  # not one of the allowed values
