"""Data-parallel training under torchrun (2 CPU processes, gloo): same result as one process with the same
global batch, only rank 0 writes, a killed job resumes, and a rank that dies ends the job without a hang."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside this Python")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GTCREC_DIST_TIMEOUT": "30"}


def _argv(dataset, *extra):
    return ["-m", "gtcrec", "train", "--model", "lightgcn", "--dataset", str(dataset), "--seeds", "0",
            "--batch-size", "64", "--patience", "100", "--no-progress", "--set", "train.num_threads=1", *extra]


def _torchrun(*argv):
    return [TORCHRUN, "--standalone", "--nproc-per-node", "2", *argv]  # standalone: a free port of its own


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_mmrec(make_synthetic(SyntheticConfig(n_users=150, n_items=90, seed=5)),
                       tmp_path_factory.mktemp("ddp") / "syn")


def _children(pid):
    return [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                                           check=False).stdout.split()]


def _metrics(run):
    return json.loads((run / "seed0" / "metrics.json").read_text())


def _assert_same_training(a, b, tol):
    assert a["best_epoch"] == b["best_epoch"] and a["epochs_run"] == b["epochs_run"]
    for x, y in zip(a["history"], b["history"]):
        assert x["loss"] == pytest.approx(y["loss"], abs=tol)
        for name, value in x["valid"].items():
            assert y["valid"][name] == pytest.approx(value, abs=tol), name
    for name, value in a["test"].items():
        assert b["test"][name] == pytest.approx(value, abs=tol), name


def test_two_ranks_train_like_one_process_with_the_same_global_batch(dataset, tmp_path):
    single = subprocess.run([sys.executable, *_argv(dataset, "--epochs", "5", "--output-dir", str(tmp_path),
                                                    "--name", "one")], env=ENV, capture_output=True, text=True, check=False)
    assert single.returncode == 0, single.stderr
    ranks = subprocess.run(_torchrun(*_argv(dataset, "--epochs", "5", "--output-dir", str(tmp_path), "--name", "two")),
                           env=ENV, capture_output=True, text=True, timeout=300,
                           check=False)
    assert ranks.returncode == 0, ranks.stderr
    # Same draws, each step the gradient of the same batch mean: equal up to float summation order.
    _assert_same_training(_metrics(tmp_path / "one"), _metrics(tmp_path / "two"), 1e-4)
    assert "2 ranks" in (tmp_path / "two" / "seed0" / "train.log").read_text()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert ranks.stdout.count("| recall |") == 1  # rank 0 alone reports


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                    reason="NCCL needs 2 GPUs (it refuses two ranks on one); benchmarks/gpu_checks.sh runs this")
def test_two_gpu_ranks_with_nccl_train_like_one_gpu_process(dataset, tmp_path):
    argv = _argv(dataset, "--epochs", "5", "--device", "cuda", "--output-dir", str(tmp_path))
    single = subprocess.run([sys.executable, *argv, "--name", "one"], env=ENV, capture_output=True, text=True,
                            check=False)
    assert single.returncode == 0, single.stderr
    ranks = subprocess.run(_torchrun(*argv, "--name", "two"), env=ENV, capture_output=True, text=True, timeout=300,
                           check=False)
    assert ranks.returncode == 0, ranks.stderr
    assert "2 ranks" in (tmp_path / "two" / "seed0" / "train.log").read_text()
    assert _metrics(tmp_path / "two")["device"] == "cuda:0"  # rank 0's device: NCCL, one GPU per rank
    # GPU reductions are not bitwise reproducible: a looser tolerance than gloo's
    _assert_same_training(_metrics(tmp_path / "one"), _metrics(tmp_path / "two"), 1e-3)


def test_two_ranks_draw_freedoms_per_epoch_graphs_like_one_process(dataset, tmp_path):
    # FREEDOM samples its pruned user-item graph from the global generator before every epoch: the ranks must
    # draw the same graph as each other and as one process.
    argv = ["--model", "freedom", "--epochs", "3"]
    single = subprocess.run([sys.executable, *_argv(dataset, "--output-dir", str(tmp_path), "--name", "one"), *argv],
                            env=ENV, capture_output=True, text=True, check=False)
    assert single.returncode == 0, single.stderr
    ranks = subprocess.run(_torchrun(*_argv(dataset, "--output-dir", str(tmp_path), "--name", "two"), *argv),
                           env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert ranks.returncode == 0, ranks.stderr
    _assert_same_training(_metrics(tmp_path / "one"), _metrics(tmp_path / "two"), 1e-4)


def test_a_killed_job_resumes_to_the_same_result(dataset, tmp_path):
    argv = _argv(dataset, "--epochs", "8", "--output-dir", str(tmp_path), "--deterministic")
    whole = subprocess.run(_torchrun(*argv, "--name", "whole"), env=ENV, capture_output=True, text=True, timeout=300,
                           check=False)
    assert whole.returncode == 0, whole.stderr
    job = subprocess.Popen(_torchrun(*argv, "--name", "killed"), env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "seed0" / "train.log"
    deadline = time.monotonic() + 300
    while not (log.exists() and "epoch    3 |" in log.read_text()):
        assert job.poll() is None, "the job finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for pid in [*_children(job.pid), job.pid]:  # both ranks (torchrun gives them sessions of their own), then it
        os.kill(pid, signal.SIGKILL)
    job.wait()
    time.sleep(0.5)
    assert not (tmp_path / "killed" / "seed0" / "metrics.json").exists()
    resumed = subprocess.run(_torchrun("-m", "gtcrec", "train", "--resume", str(tmp_path / "killed")), env=ENV,
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    _assert_same_training(_metrics(tmp_path / "whole"), _metrics(tmp_path / "killed"), 1e-6)


def test_a_rank_that_dies_ends_the_job_without_a_hang(dataset, tmp_path):
    # stderr to a file, not a pipe: a full pipe would block the launcher
    with open(tmp_path / "stderr.txt", "w") as errors:
        _kill_one_rank(dataset, tmp_path, errors)


def _kill_one_rank(dataset, tmp_path, errors):
    job = subprocess.Popen(_torchrun(*_argv(dataset, "--epochs", "100000", "--output-dir", str(tmp_path),
                                            "--name", "r")), env=ENV, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        log = tmp_path / "r" / "seed0" / "train.log"
        deadline = time.monotonic() + 300
        while not (log.exists() and "epoch    2 |" in log.read_text()):
            assert job.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers = _children(job.pid)
        assert len(workers) == 2, workers
        os.kill(workers[-1], signal.SIGKILL)
        started = time.monotonic()
        job.wait(timeout=120)
        assert job.returncode != 0
        assert time.monotonic() - started < 120
    finally:
        for pid in [*_children(job.pid), job.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        job.wait()


def test_gradient_reduction_keeps_missing_gradients_missing(tmp_path):
    # One gloo rank: the sum over ranks is its own weighted gradient; a parameter no rank reached stays None
    # (Adam would otherwise apply weight decay and momentum to it, which one process does not).
    import torch
    import torch.distributed as dist

    from gtcrec.train.distributed import reduce_gradients

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        reached, missed = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
        reached.grad = torch.tensor([1.0, 2.0, 3.0])
        reduce_gradients([reached, missed], 0.5)
        assert torch.equal(reached.grad, torch.tensor([0.5, 1.0, 1.5])) and missed.grad is None
    finally:
        dist.destroy_process_group()
