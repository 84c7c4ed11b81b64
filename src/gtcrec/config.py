"""Typed run configuration: dataclasses, YAML presets and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError

PRESETS_DIR = Path(__file__).parent / "presets"
# train.negatives: all (any catalogue item) | train (items with a training interaction, MMRec's sampler)
NegativePool = Literal["all", "train"]
NEGATIVE_POOLS = typing.get_args(NegativePool)
# train.lr_scaling: the exponent of the batch ratio by which the lr follows an enlarged batch
LRScaling = Literal["none", "sqrt", "linear"]
LR_SCALINGS: dict[str, float] = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}
if set(LR_SCALINGS) != set(typing.get_args(LRScaling)):
    raise RuntimeError("LR_SCALINGS needs one exponent per train.lr_scaling choice")


class ConfigError(UserError, ValueError):
    """A configuration value is unknown or has the wrong type."""


# data.feature_scaling: none (raw, as MMRec) | standardize (per dimension) | l2 (per item);
# see InteractionData.with_feature_scaling
FeatureScaling = Literal["none", "standardize", "l2"]
FEATURE_SCALINGS = typing.get_args(FeatureScaling)
_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def check_device_name(name: str, where: str) -> None:
    """A device name torch understands (whether the machine has it is checked when a run starts)."""
    if not _DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"{where}={name!r}: expected auto, cpu, cuda, cuda:N or mps")


@dataclass
class DataConfig:
    dataset: str = "ml-100k"
    modalities: list[str] | None = None  # None: every modality the dataset declares
    mask_valid_at_test: bool = False  # MMRec masks only training items at test time
    feature_scaling: FeatureScaling = "none"

    def __post_init__(self):
        check_choices(self, "data", ConfigError, sep=".")


@dataclass
class TrainConfig:
    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 20  # evaluations without validation improvement before stopping
    eval_every: int = 1
    valid_metric: str = "recall@20"
    topk: list[int] = field(default_factory=lambda: [5, 10, 20, 50])
    eval_batch_size: int = 4096
    device: str = "auto"  # auto: cuda when available
    deterministic: bool = False
    num_threads: int | None = None
    # CPU: treat subnormal floats (below 1.2e-38) as zero. Their arithmetic is slow on x86: without this SLMRec's
    # epoch on ML-100K-MM grew from 5.8 s to 14.3 s over 50 epochs as subnormal activations appeared. Each seed's
    # metrics.json records the mode it finished with; seeds without that key predate the option (no flushing).
    flush_denormal: bool = True
    progress: bool = True
    checkpoint_every: int = 1  # epochs between resumable checkpoints (0: never); each replaces the last
    diagnostics: bool = True  # after each validation, log the model's diagnostics (GTC: TC scale, gate, shares)
    # after each validation, record modality balance (RQ4) and preference consistency (RQ5); GTC, DRAGON, MGCN
    modality_analysis: bool = False
    # BPR negatives from: all (every item) | train (items with a training interaction, as MMRec)
    negatives: NegativePool = "all"
    # Linear cost per epoch. K: at most K batches per epoch whatever the data size, so that the batch grows with the
    # data (never below batch_size) and each epoch propagates the graph K times. null: batches of batch_size (exact;
    # an epoch then costs about interactions^2). auto: exact while an epoch has at most 256 batches (every dataset
    # of the field up to ~500 k training interactions at batch 2,048), 256 above (docs/results/scale.md).
    batches_per_epoch: int | Literal["auto"] | None = "auto"
    # how lr follows the batch when batches_per_epoch enlarges it: lr x (batch / batch_size)^p, p = 0 | 1/2 | 1
    lr_scaling: LRScaling = "sqrt"

    def __post_init__(self):
        check_choices(self, "train", ConfigError, sep=".")
        # Checked here, where every source of options (YAML, --set, flags, Python) meets, before any data
        # is read or any folder written.
        for name in ("epochs", "batch_size", "patience", "eval_every", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                raise ConfigError(f"train.{name}={value}: expected an integer >= 1")
        if isinstance(self.checkpoint_every, int) and self.checkpoint_every < 0:
            raise ConfigError(f"train.checkpoint_every={self.checkpoint_every}: expected >= 0 (0: never)")
        bpe = self.batches_per_epoch
        if isinstance(bpe, bool) or (isinstance(bpe, int) and bpe < 1) or (isinstance(bpe, str) and bpe != "auto"):
            raise ConfigError(f"train.batches_per_epoch={bpe!r}: expected an integer >= 1, auto or null")
        if self.num_threads is not None and isinstance(self.num_threads, int) and self.num_threads < 1:
            raise ConfigError(f"train.num_threads={self.num_threads}: expected an integer >= 1, or null")
        if isinstance(self.lr, (int, float)) and not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"train.lr={self.lr}: expected a finite number > 0")
        if isinstance(self.weight_decay, (int, float)) and not (math.isfinite(self.weight_decay)
                                                                  and self.weight_decay >= 0):
            raise ConfigError(f"train.weight_decay={self.weight_decay}: expected a finite number >= 0")
        if isinstance(self.topk, list) and (not self.topk or any(isinstance(k, bool) or not isinstance(k, int)
                                                                  or k < 1 for k in self.topk)):
            raise ConfigError(f"train.topk={self.topk}: expected a non-empty list of integers >= 1")
        if isinstance(self.device, str):
            check_device_name(self.device, "train.device")
        if isinstance(self.valid_metric, str) and isinstance(self.topk, list):
            from .evaluation.names import METRICS

            name, _, k = self.valid_metric.partition("@")
            if name not in METRICS or not k.isdigit() or int(k) not in self.topk:
                raise ConfigError(f"train.valid_metric={self.valid_metric!r}: expected <metric>@<k> with a metric "
                                  f"in {list(METRICS)} and k in train.topk {self.topk}")


def check_model_options(config: Any, where: str) -> None:
    """Range checks shared by every model's options, by name: sizes >= 1, layer counts and loss weights >= 0,
    dropout in [0, 1). A model's own ``__post_init__`` checks what is particular to it."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if (f.name == "embedding_dim" or f.name.endswith("_dim")) and value < 1:
            raise ConfigError(f"{where}.{f.name}={value}: expected an integer >= 1")
        if (f.name == "n_layers" or f.name.endswith("_layers")) and value < 0:
            raise ConfigError(f"{where}.{f.name}={value}: expected an integer >= 0")
        if (f.name.endswith("_weight") or f.name.startswith("lambda_")) and not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{where}.{f.name}={value}: expected a finite number >= 0")
        if f.name.endswith("dropout") and not 0 <= value < 1:
            raise ConfigError(f"{where}.{f.name}={value}: expected a number in [0, 1)")


@dataclass
class RunConfig:
    model: str = "lightgcn"
    model_params: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: list[int] = field(default_factory=lambda: [999])
    output_dir: str = "runs"
    name: str | None = None  # run folder name; default: <dataset>-<model>-<time>

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_YAML11_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Coerce ``value`` to ``annotation`` where lossless (int -> float), else raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin is typing.Literal:
        if isinstance(value, bool) or value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError as exc:
                errors.append(exc)
        prefix = f"{where}: expected "
        if len(errors) == 1 or not all(str(e).startswith(prefix) for e in errors):
            raise errors[0]  # e.g. about one element of a list: the inner message names it
        allowed = [str(e).removeprefix(prefix).rsplit(", got ", 1)[0] for e in errors]
        allowed += ["null"] if type(None) in args else []
        raise ConfigError(f"{where}: expected {' or '.join(allowed)}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, str) and _YAML11_EXPONENT.fullmatch(value.strip()):
            return float(value)  # PyYAML (YAML 1.1) reads 1e-4 as a string; 1.0e-4 as a float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, where)
    return value


def check_choices(obj: Any, where: str, error: type[Exception] = ValueError, sep: str = " option ") -> None:
    """Raise ``error`` naming the field (``{where}{sep}{field}``) if a ``Literal``-typed field holds another value.

    The ``Literal`` annotation is the one list of allowed values; dataclasses call this in ``__post_init__``
    so that direct construction is checked as strictly as YAML input.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        annotation = hints[f.name]
        if typing.get_origin(annotation) is typing.Literal:
            value = getattr(obj, f.name)
            if isinstance(value, bool) or value not in typing.get_args(annotation):
                raise error(f"{where}{sep}{f.name}={value!r}: expected one of {list(typing.get_args(annotation))}")


def from_dict(cls: type, values: dict[str, Any] | None, where: str = "config"):
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    values = values or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _check_type(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a dataclass's own __post_init__ check
        raise ConfigError(f"{where}: {exc}") from exc


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "model_params":
            out[key] = deep_merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``train.lr=0.01`` -> ``{"train": {"lr": 0.01}}``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. train.lr=0.001")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({problem}); expected e.g. "
                          f"{key.strip()}=[5, 10] or {key.strip()}=0.01") from None
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. train.lr=0.001")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


INHERITS_KEY = "inherits"


# Options whose default changed: a run saved before the change holds no key for them and ran with the old
# behaviour, which reading it with today's default would silently change. "auto" became the default on 2026-11-30.
BEFORE_DEFAULT_CHANGED: dict[str, dict[str, Any]] = {"train": {"batches_per_epoch": None}}


def saved_run_config(values: dict[str, Any]) -> RunConfig:
    """A run folder's saved config, with the behaviour it ran with where it predates a changed default."""
    if isinstance(values, dict):
        values = dict(values)
        for section, old in BEFORE_DEFAULT_CHANGED.items():
            saved = values.get(section)
            if saved is None or isinstance(saved, dict):
                values[section] = {**old, **(saved or {})}
    return from_dict(RunConfig, values, "config")


def load_yaml_config(name_or_path: str, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A YAML file path, or the name of a preset shipped in ``gtcrec/presets``.

    A file may start from another one with ``inherits: <preset name or path>``: the parent is loaded
    (recursively) and the file's own values are merged over it, so presets state only what they change.
    """
    path = Path(name_or_path)
    if not path.is_file():
        path = PRESETS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        presets = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"config {name_or_path!r}: no such file and no such preset (presets: {presets})")
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}{where}: {problem}; expected a YAML mapping of options") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc}); expected a YAML text file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    parent = raw.pop(INHERITS_KEY, None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: {INHERITS_KEY}: expected a preset name or a file path, got {parent!r}")
    if str(path.resolve()) in _chain:
        raise ConfigError(f"{path}: {INHERITS_KEY}: {parent!r} leads back to this file")
    # A file beside the inheriting one, else a shipped preset, else a path from the working directory;
    # a shipped preset never inherits from whatever happens to lie in the working directory.
    beside = path.parent / parent
    if beside.is_file():
        parent = str(beside)
    elif (PRESETS_DIR / f"{parent}.yaml").is_file():
        parent = str(PRESETS_DIR / f"{parent}.yaml")
    base = load_yaml_config(parent, _chain + (str(path.resolve()),))
    return deep_merge(base, raw)


def build_config(*layers: dict[str, Any]) -> RunConfig:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    return from_dict(RunConfig, merged, "config")
