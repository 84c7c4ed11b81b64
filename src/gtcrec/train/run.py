"""One training run: load data, train each seed, evaluate test once at the best-validation epoch."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import torch

from ..config import (
    ConfigError,
    DataConfig,
    RunConfig,
    TrainConfig,
    check_model_options,
    from_dict,
    load_yaml_config,
    saved_run_config,
)
from ..data.dataset import InteractionData
from ..data.errors import DataError
from ..data.sources import load_dataset
from ..evaluation import Evaluator
from ..machine import machine_name
from ..models import MODELS, ModelInputs, build_model
from .checkpoint import atomic_write_bytes, atomic_write_json, load_tensors
from .distributed import World, init_from_environment, rank_device, share, world
from .memory import peak_memory_mb, reset_peak_memory
from .results import RunResult, SeedResult
from .seeding import resolve_device, seed_everything
from .trainer import Trainer, has_checkpoint

LOCK_FILE = ".lock"

log = logging.getLogger("gtcrec")


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """Commit of the gtcrec source tree, for provenance in metrics.json (None outside a checkout).

    Cached: the first call (at the start of :func:`train`) names the code this process loaded, even if
    the checkout moves on while a long multi-seed run goes on.
    """
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False,
                           cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _run_dir(config: RunConfig) -> Path:
    name = config.name or f"{Path(config.data.dataset).name}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(config.output_dir) / name


def saved_config_path(run_dir: str | Path) -> Path:
    """The config a run folder was trained with: the run's own, else (a run interrupted before this
    version wrote it up front) its first seed's."""
    run_dir = Path(run_dir)
    root = run_dir / "config.yaml"
    return root if root.exists() else next(iter(sorted(run_dir.glob("seed*/config.yaml"))), root)


def train_seed(config: RunConfig, data: InteractionData, seed: int, run_dir: Path | None, *,
               resume: bool = False, data_fingerprint: dict[str, str] | None = None) -> SeedResult:
    """One seed. ``data_fingerprint``: the digests of the (unscaled) data, recorded in the seed folder at the
    start and in metrics.json; resuming a seed started on other data is refused."""
    cfg = config.train
    commit = _git_commit()  # at the start: the code that actually runs
    seed_everything(seed, cfg.deterministic)
    device = rank_device(resolve_device(cfg.device))
    here = world()
    model = build_model(config.model, ModelInputs.from_data(data), config.model_params)
    n_params = sum(p.numel() for p in model.parameters())
    file_handler = None
    if run_dir is not None and here.is_main:
        if not resume and (run_dir / "metrics.json").exists():
            # Starting afresh would overwrite a finished seed's checkpoints and log.
            raise ConfigError(f"{run_dir} holds a finished seed (metrics.json); resume the run or use "
                              "another output folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        if data_fingerprint is not None:
            check_same_data(run_dir, data_fingerprint, resume)
        (run_dir / "config.yaml").write_text(config.to_yaml())
        file_handler = logging.FileHandler(run_dir / "train.log")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(file_handler)
    try:
        log.info("seed %d | %s on %s | %d users %d items | %d parameters | device %s%s", seed, config.model,
                 data.name, data.n_users, data.n_items, n_params, device,
                 f" | {here.size} ranks" if here.distributed else "")
        reset_peak_memory(device)
        trainer = Trainer(model, data, cfg, seed=seed, device=device, run_dir=run_dir)
        fit = trainer.fit(resume=resume)
        # The only test evaluation of the run, on the restored best-validation weights.
        tester = Evaluator(data, "test", ks=cfg.topk, batch_size=cfg.eval_batch_size, device=device,
                           mask_valid=config.data.mask_valid_at_test)
        if here.distributed:
            tester.shard(share(len(tester.users), here))
        test = tester.evaluate(trainer.model).metrics
        result = SeedResult(seed, fit.best_epoch, fit.epochs_run, fit.best_valid, test, fit.epoch_seconds,
                            fit.eval_seconds, n_params, str(run_dir) if run_dir else None,
                            peak_memory_mb(device))
        log.info("seed %d | best epoch %d | test recall@20 %.4f ndcg@20 %.4f", seed, fit.best_epoch,
                 test.get("recall@20", float("nan")), test.get("ndcg@20", float("nan")))
        if run_dir is not None and here.is_main:
            atomic_write_json(run_dir / "metrics.json", {**asdict(result), "history": fit.history,
                                                         "stopped_early": fit.stopped_early,
                                                         "device": str(device), "torch": torch.__version__,
                                                         "git_commit": commit,
                                                         "machine": machine_name(device),
                                                         # what this seed ran with (older seeds: unrecorded)
                                                         "flush_denormal": cfg.flush_denormal,
                                                         "batch_size_used": trainer.batch_size,
                                                         "lr_used": trainer.lr,
                                                         "data_fingerprint": data_fingerprint})
        return result
    finally:
        if file_handler is not None:
            log.removeHandler(file_handler)
            file_handler.close()


def run_data(data_config: DataConfig, data: InteractionData | None = None, *,
             dataset: str | None = None) -> InteractionData:
    """The data a run trains and is evaluated on: its modalities and its feature scaling.

    ``data`` given: a view of it; otherwise ``dataset`` (default: the config's) is loaded. Everything that
    rebuilds a saved run's model (``gtcrec evaluate``, benchmarks) goes through here, as training does.
    """
    return _selected_data(data_config, data, dataset).with_feature_scaling(data_config.feature_scaling)


def _selected_data(data_config: DataConfig, data: InteractionData | None = None,
                   dataset: str | None = None) -> InteractionData:
    """The run's modalities of ``data`` (or of the loaded dataset), before feature scaling: what the files hold."""
    if data is None:
        return load_dataset(dataset or data_config.dataset, data_config.modalities)
    return data.with_modalities(data_config.modalities)


DATA_FINGERPRINT = "data_fingerprint.json"


def check_same_data(seed_dir: Path, fingerprint: dict[str, str], resume: bool) -> None:
    """Refuse to resume a seed on data other than it started on; record the data of a seed that starts."""
    path = seed_dir / DATA_FINGERPRINT
    if resume and path.exists():
        try:
            started = json.loads(path.read_text())
        except ValueError:
            started = None
        if not isinstance(started, dict):
            raise DataError("unreadable record of the data this seed started on; delete the seed folder to "
                            "train it again", path=str(path))
        differ = sorted(k for k in {*started, *fingerprint} if started.get(k) != fingerprint.get(k))
        if differ:
            raise DataError(f"this seed started on other data ({', '.join(differ)} differ: e.g. features encoded "
                            "again); resume it on the same files or train it again with --restart", path=str(path))
        return
    atomic_write_json(path, fingerprint)


def _seed_number(path: Path) -> tuple[int, str]:
    """Numeric order of ``seedN`` folders (seed2 before seed10); odd names sort last, by name."""
    digits = path.parent.name.removeprefix("seed")
    return (int(digits), "") if digits.isdigit() else (sys.maxsize, path.parent.name)


def find_seed_dir(run_dir: str | Path) -> Path:
    """The seed folder of a saved run: ``run_dir`` itself if it holds best.safetensors, else its lowest seed."""
    run = Path(run_dir)
    if not (run / "best.safetensors").exists():
        seeds = sorted(run.glob("seed*/best.safetensors"), key=_seed_number)
        if not seeds:
            raise DataError("no best.safetensors here or in seed*/", path=str(run))
        run = seeds[0].parent
    return run


def load_trained_run(run_dir: str | Path, *, device: str | None = None, dataset: str | None = None,
                     data: InteractionData | None = None) -> tuple[Path, RunConfig, InteractionData, torch.nn.Module]:
    """A saved run's best-validation model, in eval mode, with its config and data.

    ``run_dir`` is a seed folder (holding ``best.safetensors``) or a run folder, whose lowest-numbered seed
    is used.
    Returns (seed folder, config, data, model). ``dataset`` overrides the config's dataset; ``data`` gives it
    already loaded (unscaled, as load_dataset returns it); ``device`` defaults to the run's ``train.device``.
    """
    run = find_seed_dir(run_dir)
    config = saved_run_config(load_yaml_config(str(run / "config.yaml")))
    data = run_data(config.data, data, dataset=dataset)  # modalities and feature scaling as in training
    device = resolve_device(device or config.train.device)
    model = build_model(config.model, ModelInputs.from_data(data), config.model_params).to(device)
    model.load_state_dict(load_tensors(run / "best.safetensors", device))
    model.eval()
    return run, config, data, model


def _check_output_folder(root: Path) -> None:
    """Refuse, before anything is read or written, a run folder that cannot be created."""
    for parent in [root, *root.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"output folder {root}: {parent} is a file; expected a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"output folder {root}: {parent} is not writable; expected a writable folder")
            return


class RunLock:
    """An exclusive lock on a run folder, so that two processes never write the same run."""

    def __init__(self, root: Path):
        self.path = root / LOCK_FILE
        self.handle = open(self.path, "a+")  # noqa: SIM115 -- held for the whole run
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise ConfigError(f"run folder {root}: in use by {holder}; wait for it to finish, or choose "
                              "another --output-dir/--name") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"gtcrec pid {os.getpid()}")
        self.handle.flush()

    def release(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def has_progress(root: Path) -> bool:
    """Whether any seed of the run got as far as one checkpoint (or finished)."""
    return any(has_checkpoint(seed) or (seed / "metrics.json").exists() for seed in root.glob("seed*"))


def check_resumable(root: Path) -> None:
    """A DataError unless ``root`` is a run folder with something to resume from."""
    if not root.is_dir():
        raise DataError("no such run folder; expected a folder written by gtcrec train", path=str(root))
    if not saved_config_path(root).exists():
        raise DataError("no config.yaml: not a gtcrec run folder", path=str(root))
    if not has_progress(root):
        raise DataError("nothing to resume: no checkpoint (seed*/last.safetensors) and no finished seed; "
                        "start it again with --restart", path=str(root))


def read_seed_metrics(path: Path) -> dict:
    """A finished seed's metrics.json; a damaged one is a DataError naming it."""
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise TypeError("not a JSON object")
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"unreadable results of a finished seed ({exc}); delete that seed folder to train it "
                        "again", path=str(path)) from None
    return saved


def read_seed_result(path: Path) -> SeedResult:
    """A finished seed's results, as training returned them."""
    saved = read_seed_metrics(path)
    try:
        fields = SeedResult.__dataclass_fields__
        return SeedResult(**{k: v for k, v in saved.items() if k in fields})
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"unreadable results of a finished seed ({exc}); delete that seed folder to train it "
                        "again", path=str(path)) from None


def train(config: RunConfig, *, data: InteractionData | None = None, resume_dir: str | Path | None = None,
          restart_dir: str | Path | None = None) -> RunResult:
    """Train ``config.model`` once per seed in ``config.seeds``; returns test metrics at best validation.

    Launched by ``torchrun`` (WORLD_SIZE > 1), each process is one rank of a data-parallel job
    (:mod:`gtcrec.train.distributed`); rank 0 owns the run folder. ``resume_dir``: continue that run from its checkpoints (finished seeds are read back). ``restart_dir``:
    train that run again from scratch, in its folder. A run that fails before any seed's first checkpoint
    leaves no folder behind; a run folder is locked while it trains.
    """
    if resume_dir is not None and restart_dir is not None:
        raise ConfigError("give either --resume or --restart, not both")
    _git_commit()
    check_run_config(config)  # every option, the model's included, before anything is read or written
    here = init_from_environment(resolve_device(config.train.device))  # a torchrun job: join its ranks
    with cpu_settings(config.train):
        if not here.distributed:
            return _train_folder(config, data=data, resume_dir=resume_dir, restart_dir=restart_dir)
        result = _train_rank(config, here, data=data, resume_dir=resume_dir, restart_dir=restart_dir)
    import torch.distributed as dist

    dist.barrier()  # rank 0 has written the results
    dist.destroy_process_group()
    return result


def apply_cpu_settings(cfg: TrainConfig) -> None:
    """The CPU settings a run asks for: torch's thread count and whether subnormal floats flush to zero.

    They stay set (benchmark scripts call this once); :func:`train` restores the caller's afterwards. The flush
    mode is per thread: set before a process's first parallel operation, it reaches the OpenMP threads torch
    starts afterwards; threads already started keep their mode.
    """
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.set_flush_denormal(cfg.flush_denormal)  # returns False where the CPU cannot; nothing to do then


def flushes_subnormals() -> bool:
    """Whether this thread flushes subnormal floats to zero (a subnormal float32 then reads back as 0)."""
    return torch.tensor([1e-39], dtype=torch.float32).item() == 0.0


@contextlib.contextmanager
def cpu_settings(cfg: TrainConfig) -> Iterator[None]:
    """:func:`apply_cpu_settings` for the duration of a run, then the caller's thread count and flush mode again
    (flush-to-zero left on would break code that needs IEEE subnormals, e.g. hypothesis's float strategies)."""
    threads, flush = torch.get_num_threads(), flushes_subnormals()
    apply_cpu_settings(cfg)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flush)


def _train_rank(config: RunConfig, here: World, *, data: InteractionData | None,
                resume_dir: str | Path | None, restart_dir: str | Path | None) -> RunResult:
    """One rank of a data-parallel job: rank 0 owns the run folder; the others train beside it, writing nothing."""
    import torch.distributed as dist

    if here.is_main:
        return _train_folder(config, data=data, resume_dir=resume_dir, restart_dir=restart_dir, ranks=here)
    logging.getLogger("gtcrec").setLevel(logging.WARNING)  # one rank reports
    folder = [None]
    dist.broadcast_object_list(folder, 0)  # rank 0's run folder, once it has set it up
    root = Path(folder[0])
    data = run_data(config.data, data)
    result = RunResult(config.model, data.name, run_dir=str(root))
    for seed in config.seeds:
        seed_dir = root / f"seed{seed}"
        if resume_dir and (seed_dir / "metrics.json").exists():
            result.seeds.append(read_seed_result(seed_dir / "metrics.json"))
            continue
        result.seeds.append(train_seed(config, data, seed, seed_dir, resume=resume_dir is not None))
    return result


def _train_folder(config: RunConfig, *, data: InteractionData | None, resume_dir: str | Path | None,
                  restart_dir: str | Path | None, ranks: World | None = None) -> RunResult:
    if resume_dir is not None:
        check_resumable(Path(resume_dir))
    root = Path(resume_dir or restart_dir or _run_dir(config))
    _check_output_folder(root)
    if resume_dir is None and restart_dir is None and root.exists() and any(
            p.name != LOCK_FILE for p in root.iterdir()):
        raise ConfigError(f"run folder {root} exists and is not empty; continue it with --resume, train it again "
                          "with --restart, or choose another --output-dir/--name")
    new_folders = [p for p in [root, *root.parents] if not p.exists()]  # deepest first
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output folder {root}: cannot create it ({exc.strerror}); expected a writable place") \
            from None
    lock = RunLock(root)
    try:
        if ranks is not None:  # the other ranks learn the run folder (and load the data beside rank 0)
            import torch.distributed as dist

            dist.broadcast_object_list([str(root)], 0)
        selected = _selected_data(config.data, data)
        fingerprint = selected.fingerprint()  # of the files, once per run
        data = selected.with_feature_scaling(config.data.feature_scaling)
        if restart_dir is not None:
            for old in [*root.glob("seed*"), root / "summary.md", root / "summary.csv"]:
                shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
        result = RunResult(config.model, data.name, run_dir=str(root))
        # Written before any seed trains, so an interrupted run can be recognised and resumed.
        atomic_write_bytes(root / "config.yaml", config.to_yaml().encode())
        for seed in config.seeds:
            seed_dir = root / f"seed{seed}"
            done = seed_dir / "metrics.json"
            if resume_dir and done.exists():
                result.seeds.append(read_seed_result(done))
                log.info("seed %d already finished in %s", seed, seed_dir)
                continue
            result.seeds.append(train_seed(config, data, seed, seed_dir, resume=resume_dir is not None,
                                           data_fingerprint=fingerprint))
        result.write(root)
    except BaseException:
        lock.release()
        if new_folders and not has_progress(root):  # a new run failed before any checkpoint: keep nothing
            shutil.rmtree(root, ignore_errors=True)
            for parent in new_folders[1:]:  # the parents it made, while nothing else has moved in
                try:
                    parent.rmdir()
                except OSError:
                    break
        raise
    lock.release()
    return result


def check_run_config(config: RunConfig) -> None:
    """What only the whole config can tell: the model exists and takes these options, there are seeds, the
    device is usable. (Each section's own ranges are checked when it is built.)"""
    if config.model not in MODELS:
        raise ConfigError(f"model {config.model!r}: no such model; expected one of {sorted(MODELS)}")
    options = from_dict(MODELS[config.model].config_class, config.model_params, f"model_params ({config.model})")
    if dataclasses.is_dataclass(options):
        check_model_options(options, "model_params")
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"seeds={config.seeds}: expected one or more distinct integers")
    resolve_device(config.train.device)  # a device this machine lacks is refused before anything is read
