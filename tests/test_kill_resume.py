"""A crash loses nothing: a training process killed with SIGKILL mid-run resumes to the very same result."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors import safe_open

from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec
from gtcrec.train.checkpoint import STATE_KEY

GTC_SMALL = ["--set", "model_params.diffusion_steps=20", "--set", "model_params.generation_steps=2",
             "--set", "model_params.denoiser_hidden=[16]", "--set", "model_params.partial_t=5"]


def checkpoint_epoch(path) -> int:
    try:
        with safe_open(str(path), framework="np") as handle:
            return json.loads(handle.metadata()[STATE_KEY])["epoch"]
    except Exception:  # noqa: BLE001 -- not written yet, or being replaced right now
        return 0


@pytest.mark.parametrize("model", ["lightgcn", "gtc"])
def test_sigkill_then_resume_reaches_the_same_best_epoch_and_metrics(model, tmp_path):
    dataset = write_mmrec(make_synthetic(SyntheticConfig(n_users=200, n_items=120, seed=3)), tmp_path / "syn")
    argv = [sys.executable, "-m", "gtcrec", "train", "--model", model, "--dataset", str(dataset), "--seeds", "0",
            "--epochs", "9", "--batch-size", "32", "--patience", "100", "--no-progress",
            "--deterministic", "--set", "train.num_threads=1", *(GTC_SMALL if model == "gtc" else [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*argv, "--output-dir", str(tmp_path / "whole"), "--name", "r"], check=True, env=env,
                   capture_output=True)

    proc = subprocess.Popen([*argv, "--output-dir", str(tmp_path / "killed"), "--name", "r"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "killed" / "r" / "seed0" / "last.safetensors"
    deadline = time.monotonic() + 300
    while checkpoint_epoch(last) < 4:  # killed during epoch 5, one of 9
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seed = last.parent
    assert not (seed / "metrics.json").exists()
    resumed = subprocess.run([sys.executable, "-m", "gtcrec", "train", "--resume", str(tmp_path / "killed" / "r")],
                             env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr

    whole = json.loads((tmp_path / "whole" / "r" / "seed0" / "metrics.json").read_text())
    again = json.loads((seed / "metrics.json").read_text())
    assert again["best_epoch"] == whole["best_epoch"] and again["epochs_run"] == whole["epochs_run"] == 9
    for split in ("valid", "test"):
        for name, value in whole[split].items():
            assert again[split][name] == pytest.approx(value, abs=1e-6), (split, name)
    def losses(history):
        return [[h[k] for k in ("loss", "bpr", "diff", "align") if k in h] for h in history]

    assert len(again["history"]) == 9
    for whole_epoch, again_epoch in zip(losses(whole["history"]), losses(again["history"])):
        assert again_epoch == pytest.approx(whole_epoch, rel=1e-6)
