"""Every user mistake: one line `gtcrec: error: ...` naming what was wrong, exit code 2, no traceback,
nothing half-written left behind. Genuine bugs say so and exit 1."""

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gtcrec.cli import main
from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec

FAST = ["--epochs", "2", "--batch-size", "256", "--no-progress", "--seeds", "0"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small dataset folder and a finished LightGCN run on it."""
    root = tmp_path_factory.mktemp("errors")
    dataset = write_mmrec(make_synthetic(SyntheticConfig(n_users=40, n_items=30, seed=1)), root / "syn")
    assert main(["train", "--model", "lightgcn", "--dataset", str(dataset), *FAST,
                 "--output-dir", str(root / "runs"), "--name", "done"]) == 0
    return root, dataset, root / "runs" / "done"


def copy_dataset(world, tmp_path, name="data") -> Path:
    out = tmp_path / name
    shutil.copytree(world[1], out)
    return out


def copy_run(world, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(world[2], out)
    return out


def inter_file(dataset: Path) -> Path:
    return next(dataset.glob("*.inter"))


def train_argv(dataset: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "--model", "lightgcn", "--dataset", str(dataset), *FAST, "--output-dir",
            str(tmp_path / "out"), "--name", "r", *extra]


def case_empty_inter(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    inter_file(data).write_text("")
    return train_argv(data, tmp_path), "synthetic.inter"


def case_header_only_inter(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    inter_file(data).write_text("userID\titemID\trating\ttimestamp\tx_label\n")
    return train_argv(data, tmp_path), "no interactions"


def case_short_row(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    lines = inter_file(data).read_text().splitlines()
    lines[3] = "\t".join(lines[3].split("\t")[:2])
    inter_file(data).write_text("\n".join(lines) + "\n")
    return train_argv(data, tmp_path), "line 4"


def case_empty_npy(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    (data / "visual_feat.npy").write_bytes(b"")
    return train_argv(data, tmp_path), "visual_feat.npy"


def case_random_bytes_npy(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    (data / "visual_feat.npy").write_bytes(os.urandom(300))
    return train_argv(data, tmp_path), "not a .npy file"


def case_zero_column_features(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    np.save(data / "visual_feat.npy", np.zeros((30, 0), np.float32))
    return train_argv(data, tmp_path), "0 columns"


def case_yaml_syntax_error(world, tmp_path):
    (tmp_path / "bad.yaml").write_text("train:\n  lr: [0.1\n")
    return ["train", "--config", str(tmp_path / "bad.yaml"), "--dataset", str(world[1])], "bad.yaml, line"


def case_dataset_yaml_syntax_error(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    (data / "dataset.yaml").write_text("name: syn\nmodalities: {visual: visual_feat.npy\n")
    return train_argv(data, tmp_path), "dataset.yaml"


def case_modalities_as_list(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    spec = yaml.safe_load((data / "dataset.yaml").read_text())
    spec["modalities"] = ["visual", "textual"]
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    return train_argv(data, tmp_path), "modalities"


def case_n_items_true(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    spec = yaml.safe_load((data / "dataset.yaml").read_text())
    spec["n_items"] = True
    (data / "dataset.yaml").write_text(yaml.safe_dump(spec))
    return train_argv(data, tmp_path), "n_items"


def case_malformed_set(world, tmp_path):
    return train_argv(world[1], tmp_path, "--set", "train.topk=[5,10"), "train.topk=[5,10"


def option_case(*extra, message):
    def case(world, tmp_path):
        return train_argv(world[1], tmp_path, *extra), message
    case.__name__ = "case_" + "_".join(extra)
    return case


def case_resume_missing_folder(world, tmp_path):
    return ["train", "--resume", str(tmp_path / "nope")], "no such run folder"


def case_resume_without_checkpoint(world, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(world[2] / "config.yaml", run / "config.yaml")
    return ["train", "--resume", str(run)], "--restart"


def _interrupted(world, tmp_path) -> Path:
    """A run folder whose seed stopped after a checkpoint (metrics.json removed)."""
    run = copy_run(world, tmp_path)
    (run / "seed0" / "metrics.json").unlink()
    return run


def case_resume_garbage_checkpoint(world, tmp_path):
    run = _interrupted(world, tmp_path)
    for name in ("last.safetensors", "last.prev.safetensors"):
        (run / "seed0" / name).write_bytes(os.urandom(500))
    return ["train", "--resume", str(run)], "last.safetensors"


def case_resume_truncated_checkpoint(world, tmp_path):
    run = _interrupted(world, tmp_path)
    for name in ("last.safetensors", "last.prev.safetensors"):
        path = run / "seed0" / name
        path.write_bytes(path.read_bytes()[:100])
    return ["train", "--resume", str(run)], "last.safetensors"


def case_resume_pickle_checkpoint(world, tmp_path):
    run = _interrupted(world, tmp_path)
    for name in ("last.safetensors", "last.prev.safetensors"):
        (run / "seed0" / name).write_bytes(pickle.dumps({"model": [1, 2, 3]}))
    return ["train", "--resume", str(run)], "last.safetensors"


def case_resume_checkpoint_missing_a_field(world, tmp_path):
    from safetensors.torch import load_file, save_file

    run = _interrupted(world, tmp_path)
    for name in ("last.safetensors", "last.prev.safetensors"):
        path = run / "seed0" / name
        save_file(load_file(str(path)), str(path), metadata={"gtcrec.state": '{"epoch": 1}'})
    return ["train", "--resume", str(run)], "lacks ['best_epoch'"


def case_resume_truncated_metrics(world, tmp_path):
    run = copy_run(world, tmp_path)
    path = run / "seed0" / "metrics.json"
    path.write_text(path.read_text()[:50])
    return ["train", "--resume", str(run)], "metrics.json"


def case_evaluate_truncated_best(world, tmp_path):
    run = copy_run(world, tmp_path)
    path = run / "seed0" / "best.safetensors"
    path.write_bytes(path.read_bytes()[:64])
    return ["evaluate", str(run / "seed0")], "best.safetensors"


def case_output_dir_under_a_file(world, tmp_path):
    (tmp_path / "afile").write_text("x")
    return ["train", "--model", "lightgcn", "--dataset", str(world[1]), *FAST, "--output-dir",
            str(tmp_path / "afile" / "runs")], "is a file"


def case_output_dir_under_proc(world, tmp_path):
    return ["train", "--model", "lightgcn", "--dataset", str(world[1]), *FAST, "--output-dir",
            "/proc/gtcrec-runs"], "/proc"


def case_synthetic_zero_users(world, tmp_path):
    return ["data", "synthetic", "--out", str(tmp_path / "syn0"), "--users", "0"], "--users"


def case_synthetic_negative_items(world, tmp_path):
    return ["data", "synthetic", "--out", str(tmp_path / "syn0"), "--items", "-5"], "--items"


def _log(tmp_path) -> Path:
    pd.DataFrame({"user_id": [f"u{i % 7}" for i in range(60)], "item_id": [f"i{i % 9}" for i in range(60)]}).to_csv(
        tmp_path / "log.csv", index=False)
    return tmp_path / "log.csv"


def case_import_empty_csv(world, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    return ["data", "import", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "imp")], "empty.csv"


def case_import_negative_kcore(world, tmp_path):
    return ["data", "import", str(_log(tmp_path)), "--out", str(tmp_path / "imp"), "--kcore", "-3"], "--kcore"


def case_import_into_existing_dataset(world, tmp_path):
    data = copy_dataset(world, tmp_path)
    return ["data", "import", str(_log(tmp_path)), "--out", str(data), "--kcore", "1"], "--force"


def case_unknown_model(world, tmp_path):
    return train_argv(world[1], tmp_path)[:2] + ["nomodel"] + train_argv(world[1], tmp_path)[3:], "nomodel"


CASES = [
    case_empty_inter, case_header_only_inter, case_short_row, case_empty_npy, case_random_bytes_npy,
    case_zero_column_features, case_yaml_syntax_error, case_dataset_yaml_syntax_error, case_modalities_as_list,
    case_n_items_true, case_malformed_set,
    option_case("--batch-size", "0", message="batch_size"), option_case("--lr", "-0.01", message="lr"),
    option_case("--lr", "nan", message="lr"), option_case("--epochs", "0", message="epochs"),
    option_case("--patience", "-5", message="patience"), option_case("--device", "tpu9", message="tpu9"),
    option_case("--set", "train.topk=[]", message="topk"),
    case_resume_missing_folder, case_resume_without_checkpoint, case_resume_garbage_checkpoint,
    case_resume_truncated_checkpoint, case_resume_pickle_checkpoint, case_resume_checkpoint_missing_a_field,
    case_resume_truncated_metrics,
    case_evaluate_truncated_best, case_output_dir_under_a_file, case_output_dir_under_proc,
    case_synthetic_zero_users, case_synthetic_negative_items, case_import_empty_csv, case_import_negative_kcore,
    case_import_into_existing_dataset, case_unknown_model,
]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except logs (append-only records) and run locks (they hold the locker's pid)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".log" and p.name != ".lock"}


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_a_user_mistake_is_one_line_exit_2_and_leaves_nothing(case, world, tmp_path, capsys):
    argv, message = case(world, tmp_path)
    before = snapshot(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("gtcrec: error: ") and message in lines[-1], err
    assert not (tmp_path / "out").exists()  # no run folder from a failed train
    assert not (tmp_path / "imp").exists() and not (tmp_path / "syn0").exists()
    assert snapshot(tmp_path) == before  # nothing changed or added
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in tmp_path.rglob("*"))


def test_cuda_on_a_machine_without_one_is_a_user_error(world, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(train_argv(world[1], tmp_path, "--device", "cuda")) == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bug_is_reported_as_one_and_exits_1(world, tmp_path, capsys, monkeypatch):
    import importlib

    run = importlib.import_module("gtcrec.train.run")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(run, "train_seed", broken)
    assert main(train_argv(world[1], tmp_path)) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err and "please report" in err


def test_verbose_shows_the_traceback_of_a_user_error(world, tmp_path, capsys):
    assert main(["--verbose", *train_argv(world[1], tmp_path, "--lr", "-1")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("gtcrec: error: ")


def test_import_with_force_replaces_the_folder_whole(world, tmp_path, capsys):
    data = copy_dataset(world, tmp_path)
    assert main(["data", "import", str(_log(tmp_path)), "--out", str(data), "--kcore", "1", "--force"]) == 0
    names = {p.name for p in data.iterdir()}
    assert "visual_feat.npy" not in names and "synthetic.inter" not in names  # nothing of the old dataset is left
    assert (data / "data.inter").exists() and (data / "dataset.yaml").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_written_files_respect_the_umask(world, tmp_path):
    old = os.umask(0o022)
    try:
        assert main(train_argv(world[1], tmp_path)) == 0
    finally:
        os.umask(old)
    for path in (tmp_path / "out" / "r").rglob("*"):
        if path.is_file() and path.name != ".lock":
            assert path.stat().st_mode & 0o777 == 0o644, path


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(world, tmp_path, caplog):
    run = _interrupted(world, tmp_path)
    seed = run / "seed0"
    assert (seed / "last.prev.safetensors").exists()  # every epoch keeps the one before
    (seed / "last.safetensors").write_bytes(b"\x00" * 40)
    with caplog.at_level("WARNING", logger="gtcrec"):
        assert main(["train", "--resume", str(run)]) == 0
    assert "resumed from the checkpoint before it" in caplog.text and "last.safetensors" in caplog.text
    assert (seed / "metrics.json").exists()


def test_two_processes_cannot_write_one_run_folder(world, tmp_path, capsys):
    import importlib

    run_module = importlib.import_module("gtcrec.train.run")
    run = _interrupted(world, tmp_path)
    holder = run_module.RunLock(run)
    try:
        assert main(["train", "--resume", str(run)]) == 2
        assert "in use by gtcrec pid" in capsys.readouterr().err
    finally:
        holder.release()
    assert main(["train", "--resume", str(run)]) == 0


def test_restart_trains_again_in_the_same_folder(world, tmp_path, capsys):
    run = copy_run(world, tmp_path)
    before = (run / "seed0" / "metrics.json").stat().st_mtime_ns
    assert main(["train", "--restart", str(run)]) == 0
    assert (run / "seed0" / "metrics.json").stat().st_mtime_ns != before
    assert main(["train", "--restart", str(run), "--resume", str(run)]) == 2


@pytest.mark.parametrize("override, message", [
    ("model_params.n_layers=-1", "model_params.n_layers=-1"),
    ("model_params.embedding_dim=0", "model_params.embedding_dim=0"),
    ("model_params.reg_weight=-1e-4", "model_params.reg_weight"),
    ("train.valid_metric=recall@7", "train.valid_metric"),
    ("train.eval_every=0", "train.eval_every"),
])
def test_impossible_options_are_refused_before_anything_runs(override, message, world, tmp_path, capsys):
    assert main(train_argv(world[1], tmp_path, "--set", override)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_import_force_refuses_an_output_folder_that_holds_its_input(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    log = _log(tmp_path / "mine")
    assert main(["data", "import", str(log), "--out", str(tmp_path / "mine"), "--kcore", "1", "--force"]) == 2
    assert "holds the input" in capsys.readouterr().err and log.exists()


def test_a_new_run_never_writes_into_an_existing_run(world, tmp_path, capsys):
    run = copy_run(world, tmp_path)
    before = snapshot(run)
    argv = ["train", "--model", "lightgcn", "--dataset", str(world[1]), *FAST, "--output-dir", str(tmp_path),
            "--name", "run"]
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err and snapshot(run) == before


def test_a_failed_run_removes_only_the_folders_it_made(world, tmp_path, monkeypatch):
    import importlib

    run_module = importlib.import_module("gtcrec.train.run")
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "other.txt").write_text("x")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(run_module, "train_seed", broken)
    out = tmp_path / "keep" / "new" / "deeper"
    assert main(["train", "--model", "lightgcn", "--dataset", str(world[1]), *FAST, "--output-dir", str(out),
                 "--name", "r"]) == 1
    assert not (tmp_path / "keep" / "new").exists() and (tmp_path / "keep" / "other.txt").exists()


def test_no_seeds_is_refused(world, tmp_path, capsys):
    assert main(train_argv(world[1], tmp_path, "--set", "seeds=[]")) == 2
    assert "seeds" in capsys.readouterr().err and not (tmp_path / "out").exists()
