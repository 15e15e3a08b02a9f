"""The default presets are the built-in defaults, and the flags document their fields."""

from __future__ import annotations

import dataclasses

import pytest

from imitation_agent.train import AgentConfig
from tcn.cli import build_parser
from tcn.presets import available, field_docs, load
from tcn.quickstart import QuickstartConfig
from tcn.record import RecordConfig
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
    missing = {f.name for f in dataclasses.fields(config_type)} - set(preset)
    assert not missing - machinery - smak_only, sorted(missing - machinery - smak_only)


@pytest.mark.parametrize("kind", ["record", "embedding", "agent"])
def test_a_paper_preset_stays_and_differs_from_the_default(kind):
    assert {"default", "paper"} <= set(available(kind))
    paper = KINDS[kind].from_dict(load(kind, "paper"))
    assert paper != KINDS[kind]()
    assert "full" in available("quickstart")


def test_paper_presets_keep_the_papers_choices():
    embedding = TrainConfig.from_dict(load("embedding", "paper"))
    assert embedding.backbone == "inception" and embedding.image_size == 299
    assert embedding.self_regression == 0 and embedding.pose_steps == 0
    agent = AgentConfig.from_dict(load("agent", "paper"))
    assert agent.action == "torque" and agent.embedding_obs and not agent.pose_features


@pytest.mark.parametrize(
    ("verb", "config_type"),
    [
        ("record", RecordConfig),
        ("train-embedding", TrainConfig),
        ("train-agent", AgentConfig),
        ("quickstart", QuickstartConfig),
    ],
)
def test_config_flags_take_their_help_from_the_fields_docs(verb, config_type):
    parser = build_parser(verb)
    sub = next(a for a in parser._actions if a.dest == "command").choices[verb]
    helps = {a.dest: a.help or "" for a in sub._actions}
    docs = field_docs(config_type)
    assert docs, f"{config_type.__name__} documents no field"
    for name, doc in docs.items():
        assert helps[name].startswith(doc.replace("%", "%%")[:40]), name
