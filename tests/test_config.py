import dataclasses
import re
import typing

import pytest

from gtcrec.config import (
    ConfigError,
    DataConfig,
    RunConfig,
    TrainConfig,
    build_config,
    load_yaml_config,
    parse_override,
)
from gtcrec.models import MODELS, ModelInputs, build_model


def test_defaults_and_nested_override():
    cfg = build_config({"train": {"lr": 0.01}}, parse_override("train.patience=5"),
                       parse_override("model_params.n_layers=3"))
    assert isinstance(cfg, RunConfig)
    assert cfg.train.lr == 0.01 and cfg.train.patience == 5 and cfg.train.batch_size == 2048
    assert cfg.model_params == {"n_layers": 3}


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert build_config({"train": {"lr": 1}}).train.lr == 1.0
    with pytest.raises(ConfigError, match=r"config.train.epochs: expected an integer"):
        build_config({"train": {"epochs": 2.5}})


@pytest.mark.parametrize("layer,match", [
    ({"trian": {}}, r"unknown option\(s\) \['trian'\]"),
    ({"train": {"lrr": 1}}, r"config.train: unknown option\(s\) \['lrr'\]"),
    ({"seeds": "1"}, r"config.seeds: expected a list"),
    ({"train": {"deterministic": "yes"}}, r"expected true/false"),
])
def test_bad_values_are_named(layer, match):
    with pytest.raises(ConfigError, match=match):
        build_config(layer)


def test_override_needs_key_value():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.lr")


def test_unknown_model_param_is_rejected(small_synthetic):
    with pytest.raises(ConfigError, match=r"model_params \(lightgcn\): unknown option\(s\) \['layers'\]"):
        build_model("lightgcn", ModelInputs.from_data(small_synthetic), {"layers": 3})


def test_every_model_has_a_preset_that_builds():
    for name in MODELS:
        cfg = build_config(load_yaml_config(name))
        assert cfg.model == name


def test_yaml_round_trip(tmp_path):
    cfg = build_config({"model": "bprmf", "seeds": [1, 2], "model_params": {"embedding_dim": 32}})
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert build_config(load_yaml_config(str(path))) == cfg


def test_exponent_floats_without_a_dot_are_numbers():
    # PyYAML follows YAML 1.1, where 1e-5 is a string; users write it anyway, on the CLI and in files.
    from gtcrec.config import build_config, parse_override

    cfg = build_config(parse_override("train.lr=1e-5"), {"model_params": {}})
    assert cfg.train.lr == 1e-5 and isinstance(cfg.train.lr, float)
    assert build_config({"train": {"lr": "2E+1"}}).train.lr == 20.0
    with pytest.raises(ConfigError):
        build_config({"train": {"lr": "fast"}})
    with pytest.raises(ConfigError):
        build_config({"train": {"epochs": "1e3"}})  # an integer option stays strict


def test_presets_inherit_and_override(tmp_path):
    (tmp_path / "parent.yaml").write_text("model: gtc\nmodel_params: {n_layers: 3, lambda_tc: 0.1}\n"
                                          "train: {lr: 0.01, patience: 4}\n")
    (tmp_path / "child.yaml").write_text("inherits: parent.yaml\nmodel_params: {lambda_tc: 0.4}\n"
                                         "train: {patience: 7}\n")
    cfg = build_config(load_yaml_config(str(tmp_path / "child.yaml")))  # the parent is found beside the child
    assert cfg.model == "gtc"
    assert cfg.model_params == {"n_layers": 3, "lambda_tc": 0.4}
    assert (cfg.train.lr, cfg.train.patience) == (0.01, 7)
    shipped = build_config(load_yaml_config("gtc-wo-tc"))
    assert shipped.model_params["alignment"] == "pairwise"
    assert shipped.model_params["tc_on"] == build_config(load_yaml_config("gtc")).model_params["tc_on"]


def test_inheritance_cycles_and_bad_parents_are_named(tmp_path):
    (tmp_path / "a.yaml").write_text("inherits: b.yaml\n")
    (tmp_path / "b.yaml").write_text("inherits: a.yaml\n")
    with pytest.raises(ConfigError, match="leads back to this file"):
        load_yaml_config(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("inherits: [gtc]\n")
    with pytest.raises(ConfigError, match="c.yaml: inherits: expected a preset name or a file path"):
        load_yaml_config(str(tmp_path / "c.yaml"))
    (tmp_path / "d.yaml").write_text("inherits: no-such-preset\n")
    with pytest.raises(ConfigError, match="'no-such-preset': no such file and no such preset"):
        load_yaml_config(str(tmp_path / "d.yaml"))


def test_choice_options_list_their_choices():
    with pytest.raises(ConfigError, match=r"model_params \(gtc\)\.fusion: expected one of \['gate', 'concat'\], "
                                          r"got 'sum'"):
        from gtcrec.config import from_dict
        from gtcrec.models.gtc import GTCConfig
        from_dict(GTCConfig, {"fusion": "sum"}, "model_params (gtc)")


def test_shipped_presets_inherit_shipped_presets_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gtc").mkdir()  # a folder named like the parent preset
    (tmp_path / "gtc-paper").write_text("model: lightgcn\n")  # and a stray file
    cfg = build_config(load_yaml_config("gtc-wo-tc"))
    assert cfg.model == "gtc" and cfg.model_params["tc_on"] == "generated"


def literal_options() -> list[tuple[str, str]]:
    """(model, option) for every Literal-typed option of every model's config."""
    out = []
    for name, cls in sorted(MODELS.items()):
        hints = typing.get_type_hints(cls.config_class)
        out += [(name, f.name) for f in dataclasses.fields(cls.config_class)
                if typing.get_origin(hints[f.name]) is typing.Literal]
    return out


def test_every_model_with_choices_is_covered():
    assert {"dragon", "freedom", "lgmrec", "bm3", "grcn", "slmrec", "gtc"} <= {m for m, _ in literal_options()}


@pytest.mark.parametrize("model, option", literal_options())
def test_a_choice_outside_its_literal_type_is_rejected_naming_the_option(small_synthetic, model, option):
    # From YAML/--set (the options' Literal type) and from Python (the dataclass's own check) alike.
    with pytest.raises(ConfigError, match=rf"model_params \({model}\)\.{option}: expected one of \["):
        build_model(model, ModelInputs.from_data(small_synthetic), {option: "no-such-choice"})
    with pytest.raises(ValueError, match=rf"{option}='no-such-choice': expected one of \["):
        MODELS[model].config_class(**{option: "no-such-choice"})


@pytest.mark.parametrize("override", ["data.feature_scaling=zscore", "train.negatives=popular",
                                      "train.lr_scaling=cubic"])
def test_a_run_option_outside_its_literal_type_is_rejected(override):
    key = re.escape(override.split("=")[0])
    with pytest.raises(ConfigError, match=rf"{key}: expected one of \["):
        build_config(parse_override(override))
    section, option = override.split("=")[0].split(".")
    cls = {"data": DataConfig, "train": TrainConfig}[section]
    with pytest.raises(ConfigError, match=rf"{section}\.{option}='.+': expected one of \["):
        cls(**{option: override.split("=")[1]})


@pytest.mark.parametrize("value", ["fast", True, 0, 1.5])
def test_batches_per_epoch_takes_an_integer_auto_or_null_and_says_so(value):
    with pytest.raises(ConfigError, match=r"train.batches_per_epoch.*expected an integer.*auto.*null"):
        build_config({"train": {"batches_per_epoch": value}})
    for good in (None, "auto", 8):
        assert build_config({"train": {"batches_per_epoch": good}}).train.batches_per_epoch == good


def test_a_bad_list_element_is_named_even_where_the_list_may_be_null():
    with pytest.raises(ConfigError, match=r"^config.data.modalities\[1\]: expected a string, got 3$"):
        build_config({"data": {"modalities": ["v", 3]}})
