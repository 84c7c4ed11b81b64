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


def test_a_trained_run_serves_on_cuda_as_on_cpu(tmp_path):
    import gtcrec
    from gtcrec.config import build_config
    from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec
    from gtcrec.train import train

    data = make_synthetic(SyntheticConfig(n_users=80, n_items=60, seed=2))
    folder = write_mmrec(data, tmp_path / "syn")
    config = build_config({"model": "gtc", "data": {"dataset": str(folder)}, "seeds": [0], "output_dir": str(tmp_path),
                           "name": "gtc", "train": {"epochs": 2, "batch_size": 256, "progress": False,
                                                     "device": "cpu"},
                           "model_params": {"diffusion_steps": 20, "generation_steps": 2, "partial_t": 5}})
    run = train(config).run_dir
    cpu, gpu = gtcrec.load(run, device="cpu"), gtcrec.load(run, device="cuda")
    assert gpu.user_reps.device.type == "cuda"
    users = [str(u) for u in range(10)]
    on_cpu, on_gpu = cpu.recommend(users, 10), gpu.recommend(users, 10)
    # float sums differ in the last bits between devices: scores agree closely, and only near-ties may swap
    tolerance = 1e-4 * (1 + abs(on_cpu.scores).max())
    assert abs(on_cpu.scores - on_gpu.scores).max() < tolerance
    for row, user in enumerate(users):  # the GPU's list is a CPU ranking up to near-ties
        assert abs(cpu.score(user, list(on_gpu.items[row])) - on_cpu.scores[row]).max() < tolerance, user
    new = {m: f[:2] for m, f in data.features.items()}
    cpu.add_items(["n1", "n2"], new)
    gpu.add_items(["n1", "n2"], new)
    assert abs(cpu.score("3", ["n1", "n2"]) - gpu.score("3", ["n1", "n2"])).max() < 1e-3


@pytest.mark.parametrize("generation", ["ddim", "partial", "ancestral"])
def test_gtc_generates_the_same_content_on_cuda_as_on_cpu(generation, small_synthetic):
    # CUDA's random stream differs from the CPU's for a seed; generation draws its noise on the CPU
    torch.manual_seed(0)
    params = {"generation": generation, "diffusion_steps": 20, "partial_t": 5, "generation_steps": 5}
    model = build_model("gtc", ModelInputs.from_data(small_synthetic), params).eval()
    twin = build_model("gtc", ModelInputs.from_data(small_synthetic), params)
    twin.load_state_dict(model.state_dict())
    on_cpu, on_gpu = model.generate_content(), twin.to(CUDA).eval().generate_content()
    for m, content in on_cpu.items():
        assert on_gpu[m].device.type == "cuda"
        torch.testing.assert_close(on_gpu[m].cpu(), content, atol=1e-4, rtol=1e-4)
