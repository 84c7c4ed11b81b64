"""The GPU path. Skipped without CUDA (as in CI); a GPU session runs them with benchmarks/gpu_checks.sh."""

import pytest
import torch

from gtcrec.config import TrainConfig
from gtcrec.evaluation import Evaluator
from gtcrec.models import MODELS, ModelInputs, build_model
from gtcrec.train import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device here; on a GPU machine run benchmarks/gpu_checks.sh")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_on_cuda_and_keeps_its_tensors_there(name, small_synthetic):
    torch.manual_seed(0)
    model = build_model(name, ModelInputs.from_data(small_synthetic))
    cfg = TrainConfig(epochs=2, batch_size=256, lr=0.01, progress=False, checkpoint_every=0)
    fit = Trainer(model, small_synthetic, cfg, seed=0, device=CUDA).fit()
    assert fit.epochs_run == 2 and fit.best_valid
    assert all(t.device.type == "cuda" for t in model.state_dict().values())
    users, items = model.representations()
    assert users.device.type == "cuda" and torch.isfinite(users).all() and torch.isfinite(items).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cuda_and_cpu_evaluations_of_the_same_weights_agree(name, small_synthetic):
    inputs = ModelInputs.from_data(small_synthetic)
    model = build_model(name, inputs).eval()
    twin = build_model(name, inputs)  # sparse CSR buffers can't be deep-copied
    twin.load_state_dict(model.state_dict())
    twin = twin.to(CUDA).eval()
    on_cpu = Evaluator(small_synthetic, "valid", ks=[10, 20]).evaluate(model).metrics
    on_gpu = Evaluator(small_synthetic, "valid", ks=[10, 20], device=CUDA).evaluate(twin).metrics
    # float sums differ in the last bits between devices; only near-ties may swap
    for metric, value in on_cpu.items():
        assert on_gpu[metric] == pytest.approx(value, abs=0.01), metric
