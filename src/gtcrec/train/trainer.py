"""BPR training loop with early stopping on validation, atomic checkpoints and resume."""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import LR_SCALINGS, ConfigError, TrainConfig
from ..data.dataset import InteractionData
from ..data.errors import DataError
from ..errors import UserError
from ..evaluation import Evaluator
from ..evaluation.analysis import modality_analysis, views_of
from ..models.base import Recommender
from .checkpoint import (
    load_checkpoint,
    load_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
    save_tensors,
)
from .distributed import (
    all_sum,
    broadcast_parameters,
    reduce_gradients,
    share,
    sync_rng,
    world,
)
from .sampler import NegativeSampler

log = logging.getLogger("gtcrec")

BEST_FILE = "best.safetensors"
LAST_FILE = "last.safetensors"  # the latest resumable checkpoint: weights, optimizer, RNG and training state
PREVIOUS_FILE = "last.prev.safetensors"  # the one before it, kept in case the latest is damaged
STATE_FIELDS = ("epoch", "best_epoch", "best_score", "bad_evals", "best_valid", "history", "optimizer")


class TrainingDiverged(UserError, FloatingPointError):
    """The loss became NaN or infinite: the options (learning rate, regularisation) do not train this model."""


def has_checkpoint(seed_dir: Path) -> bool:
    return (seed_dir / LAST_FILE).exists() or (seed_dir / PREVIOUS_FILE).exists()


@dataclass
class FitResult:
    best_epoch: int
    best_valid: dict[str, float]
    epochs_run: int
    stopped_early: bool
    epoch_seconds: float  # mean training seconds per epoch (no evaluation)
    eval_seconds: float  # mean seconds per validation pass
    history: list[dict] = field(default_factory=list)


# batches_per_epoch "auto" keeps exact epochs up to this many batches and caps larger ones here; with it off
# (null), training warns above it (scale.md: at 1.7 M interactions an exact epoch has 583 batches of 2,048, each
# propagating the whole graph; 32 batches took 51 s on one thread).
MANY_BATCHES = 256


def resolved_batches_per_epoch(cfg: TrainConfig, n_train: int) -> int | None:
    """``cfg.batches_per_epoch`` with ``auto`` resolved for ``n_train`` training pairs (None: exact epochs)."""
    if cfg.batches_per_epoch == "auto":
        return MANY_BATCHES if math.ceil(n_train / cfg.batch_size) > MANY_BATCHES else None
    return cfg.batches_per_epoch


def effective_batch_and_lr(cfg: TrainConfig, n_train: int) -> tuple[int, float]:
    """The batch size and learning rate training uses: ``cfg``'s, unless ``batches_per_epoch`` asks for larger
    batches (then the lr grows by the batch ratio to the power set by ``lr_scaling``)."""
    cap = resolved_batches_per_epoch(cfg, n_train)
    if cap is None:
        return cfg.batch_size, cfg.lr
    batch = max(cfg.batch_size, math.ceil(n_train / cap))
    return batch, cfg.lr * (batch / cfg.batch_size) ** LR_SCALINGS[cfg.lr_scaling]


class Trainer:
    """Trains ``model`` on ``data.train``; chooses the epoch by ``cfg.valid_metric`` on validation.

    The test split is never touched here: the caller evaluates it once, after :meth:`fit`,
    on the restored best-validation weights.
    """

    def __init__(self, model: Recommender, data: InteractionData, cfg: TrainConfig, *, seed: int,
                 device: torch.device, run_dir: Path | None = None, valid_evaluator: Evaluator | None = None):
        self.model = model.to(device)
        self.data = data
        self.cfg = cfg
        self.device = device
        self.run_dir = run_dir
        self.valid_evaluator = valid_evaluator or Evaluator(
            data, "valid", ks=cfg.topk, batch_size=cfg.eval_batch_size, device=device)
        if cfg.valid_metric not in self._metric_names():
            raise ValueError(f"valid_metric {cfg.valid_metric!r} is not computed; choose from "
                             f"{sorted(self._metric_names())}")
        self.world = world()
        # the users the modality analysis covers: all of them, on every rank (before the evaluator is sharded)
        self.analysis_users = self.valid_evaluator.users if cfg.modality_analysis else None
        if self.world.distributed:  # every rank from rank 0's weights; each validates its share of the users
            broadcast_parameters(self.model)
            self.valid_evaluator.shard(share(len(self.valid_evaluator.users), self.world))
        self.train_pairs = torch.as_tensor(data.train, dtype=torch.long, device=device)
        self.sampler = NegativeSampler(data.train, data.n_users, data.n_items, device, pool=cfg.negatives)
        # what this run trains with, recorded in metrics.json (batches_per_epoch may enlarge both)
        self.batch_size, self.lr = effective_batch_and_lr(cfg, len(self.train_pairs))
        if self.batch_size != cfg.batch_size and self.world.is_main:
            log.info("batches_per_epoch %s: batch %d instead of %d, lr %.3g (%s scaling)", cfg.batches_per_epoch,
                     self.batch_size, cfg.batch_size, self.lr, cfg.lr_scaling)
        n_batches = math.ceil(len(self.train_pairs) / self.batch_size)
        if cfg.batches_per_epoch is None and n_batches > MANY_BATCHES and self.world.is_main:
            log.warning("an epoch has %d batches and each propagates the whole graph, so an epoch costs about "
                        "interactions^2; train.batches_per_epoch auto (the default: 256 above 256) or K (e.g. 8 to 32; "
                        "accuracy measured with 8) makes it linear (docs/results/scale.md)", n_batches)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=cfg.weight_decay)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.best_state: dict[str, torch.Tensor] | None = None
        if cfg.modality_analysis and views_of(self.model) is None:
            raise ConfigError(f"train.modality_analysis: {model.name} has no modality-specific representations "
                              "(with content modalities: gtc, dragon, mgcn); expected false")

    def _metric_names(self) -> set[str]:
        return {f"{m}@{k}" for m in ("recall", "ndcg", "precision", "map", "hit") for k in self.valid_evaluator.ks}

    def shuffled_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch's training pairs in a fresh random order and a negative per pair, drawn on the device."""
        order = torch.randperm(len(self.train_pairs), device=self.device, generator=self.generator)
        pairs = self.train_pairs[order]
        return pairs, self.sampler.sample(pairs[:, 0], self.generator)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training pairs in a fresh random order; returns each loss term's batch mean.

        Nothing here waits for the device batch by batch: negatives are drawn for the whole epoch at
        once, and the batches' loss terms stay on the device until the non-finite check and the means at
        the end (a per-batch ``float(loss)`` would stall a GPU on every batch).
        """
        self.model.train()
        if self.world.distributed:
            sync_rng(self.device)
        self.model.on_epoch_start(epoch)
        n = len(self.train_pairs)
        epoch_pairs, epoch_negatives = self.shuffled_epoch()
        batch_terms: list[dict[str, torch.Tensor]] = []
        n_batches = math.ceil(n / self.batch_size)
        show = self.cfg.progress and sys.stderr.isatty()
        w = self.world
        params = [p for p in self.model.parameters() if p.requires_grad]
        for b in tqdm(range(n_batches), desc=f"epoch {epoch}", leave=False, disable=not show or not w.is_main):
            batch = torch.arange(b * self.batch_size, min((b + 1) * self.batch_size, n), device=self.device)
            weight = 1.0
            if w.distributed:  # this rank's share of the global batch (one row with weight 0 if the share is empty)
                part = batch[share(len(batch), w)]
                weight = len(part) / len(batch)
                batch = part if len(part) else batch[:1]
            users, pos = epoch_pairs[batch, 0], epoch_pairs[batch, 1]
            terms = self.model.loss(users, pos, epoch_negatives[batch])
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if w.distributed:
                reduce_gradients(params, weight)
            self.optimizer.step()
            batch_terms.append({name: value.detach() * weight for name, value in terms.items()})
        finite = torch.stack([terms["loss"] for terms in batch_terms]).isfinite()
        if w.distributed:  # every rank takes the same decision
            finite = all_sum(finite.to(torch.float64)) == w.size
        if not bool(finite.all()):
            # the weights saved at the best validation epoch are untouched by this epoch's updates
            first_bad = int((~finite).nonzero()[0])
            raise TrainingDiverged(f"epoch {epoch}, batch {first_bad}: the loss is not finite; expected a smaller "
                                   "train.lr (or stronger regularisation)")
        names = list(batch_terms[0])
        means = torch.stack([torch.stack([terms[name] for terms in batch_terms]).mean() for name in names])
        if w.distributed:  # the shares' weighted means add up to the global batches' means
            means = all_sum(means.to(torch.float64))
        return {name: float(value) for name, value in zip(names, means)}

    def fit(self, *, resume: bool = False) -> FitResult:
        cfg = self.cfg
        start_epoch, best_epoch, best_score, bad_evals = 1, 0, -math.inf, 0
        best_valid: dict[str, float] = {}
        history: list[dict] = []
        if resume and self.run_dir is not None and has_checkpoint(self.run_dir):
            state = self._load_last()
            start_epoch = state["epoch"] + 1
            best_epoch, best_score, bad_evals = state["best_epoch"], state["best_score"], state["bad_evals"]
            best_valid, history = state["best_valid"], state["history"]
            log.info("resumed from %s at epoch %d (best %s %.4f @ %d)", self.run_dir, state["epoch"],
                     cfg.valid_metric, best_score, best_epoch)
        stopped_early = False
        epoch = start_epoch - 1
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            # The weights moved: state derived from them (GTC's generated content) follows, for the
            # validation below and the next epoch. Part of the epoch's cost, so inside its time.
            self.model.refresh()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            record = {"epoch": epoch, "train_seconds": time.perf_counter() - t0, **losses}
            line = f"epoch {epoch:4d} | " + " ".join(f"{k} {v:.4f}" for k, v in losses.items())
            line += f" | train {record['train_seconds']:.2f}s"
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                t1 = time.perf_counter()
                valid = self.valid_evaluator.evaluate(self.model).metrics
                record["eval_seconds"] = time.perf_counter() - t1
                record["valid"] = valid
                if cfg.modality_analysis:
                    record["analysis"] = analysis = modality_analysis(self.model, self.analysis_users,
                                                                      self.data.train)
                    log.info("epoch %4d | analysis | %s", epoch, " ".join(f"{k} {v:.4g}" for k, v in analysis.items()))
                if cfg.diagnostics:
                    record["diagnostics"] = diagnostics = self.model.diagnostics()
                    if diagnostics:
                        log.info("epoch %4d | diagnostics | %s", epoch,
                                 " ".join(f"{k} {v:.4g}" for k, v in diagnostics.items()))
                score = valid[cfg.valid_metric]
                if score > best_score:
                    best_epoch, best_score, best_valid, bad_evals = epoch, score, valid, 0
                    self._save_best(epoch)
                else:
                    bad_evals += 1
                line += (f" eval {record['eval_seconds']:.2f}s | valid recall@20 {valid.get('recall@20', 0):.4f} "
                         f"ndcg@20 {valid.get('ndcg@20', 0):.4f} | best {cfg.valid_metric} {best_score:.4f} "
                         f"@ {best_epoch}")
            history.append(record)
            log.info(line)
            if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
                self._save_last(epoch, best_epoch, best_score, bad_evals, best_valid, history)
            if bad_evals >= cfg.patience:
                stopped_early = True
                log.info("early stop: no validation improvement in %d evaluations", cfg.patience)
                break
        if self.best_state is None and self.run_dir is not None and (self.run_dir / BEST_FILE).exists():
            self.best_state = load_tensors(self.run_dir / BEST_FILE, self.device)
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        train_times = [h["train_seconds"] for h in history]
        eval_times = [h["eval_seconds"] for h in history if "eval_seconds" in h]
        return FitResult(best_epoch, best_valid, epoch, stopped_early,
                         sum(train_times) / max(len(train_times), 1), sum(eval_times) / max(len(eval_times), 1),
                         history)

    def _save_best(self, epoch: int) -> None:
        self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if self.run_dir is not None and self.world.is_main:
            save_tensors(self.run_dir / BEST_FILE, self.best_state, {"model": self.model.name, "epoch": str(epoch)})

    def _save_last(self, epoch, best_epoch, best_score, bad_evals, best_valid, history) -> None:
        if self.run_dir is None or not self.world.is_main:
            return
        optim_tensors, optim_scalars = optimizer_to_tensors(self.optimizer)
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update(optim_tensors)
        tensors["rng.generator"] = self.generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()  # models draw their own noise from it
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        if self.best_state is not None:  # so that a resumed run restores the best weights its state names
            tensors.update({f"best.{k}": v for k, v in self.best_state.items()})
        state = {"epoch": epoch, "best_epoch": best_epoch, "best_score": best_score, "bad_evals": bad_evals,
                 "best_valid": best_valid, "history": history, "optimizer": optim_scalars}
        save_checkpoint(self.run_dir / LAST_FILE, tensors, state, previous=self.run_dir / PREVIOUS_FILE)

    def _load_last(self) -> dict:
        """Restore the latest usable checkpoint (the latest, else the one before it); its training state."""
        errors = []
        for path in (self.run_dir / LAST_FILE, self.run_dir / PREVIOUS_FILE):
            if not path.exists():
                continue
            try:
                state = self._restore(path)
            except DataError as exc:
                errors.append(str(exc))
                continue
            if errors:
                log.warning("%s; resumed from the checkpoint before it, %s", errors[0], path)
            return state
        # bench and grid have no --restart: they retrain a seed whose folder is gone
        raise DataError(f"no usable checkpoint to resume from ({'; '.join(errors) or 'none found'}); start this "
                        "run again with --restart (gtcrec train), or delete this seed folder and re-run the "
                        "command (gtcrec bench, grid)", path=str(self.run_dir))

    def _restore(self, path: Path) -> dict:
        tensors, state = load_checkpoint(path, self.device)
        missing = [name for name in STATE_FIELDS if name not in state]
        if missing:
            raise DataError(f"training state lacks {missing}; expected a checkpoint written by gtcrec train",
                            path=str(path))
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
        expected = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        for name, part in (("weights", weights), ("best weights", best or weights)):
            got = {k: tuple(v.shape) for k, v in part.items()}
            if got != expected:
                differ = sorted(set(got) ^ set(expected)) or [k for k in expected if got[k] != expected[k]]
                raise DataError(f"its {name} do not match this run's model (first difference: {differ[0]!r}); "
                                "expected a checkpoint of this run", path=str(path))
        if not {"rng.generator", "rng.torch"} <= set(tensors):
            raise DataError("it lacks the RNG states; expected a checkpoint written by gtcrec train", path=str(path))
        try:
            optimizer_from_tensors(self.optimizer, {k: v for k, v in tensors.items() if k.startswith("optim.")},
                                   state["optimizer"])
        except (KeyError, ValueError, TypeError) as exc:  # optimizer.load_state_dict's own checks
            raise DataError(f"its optimizer state does not match this run ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); expected a checkpoint of this run", path=str(path)) from None
        self.model.load_state_dict(weights)
        self.generator.set_state(tensors["rng.generator"].cpu())
        torch.set_rng_state(tensors["rng.torch"].cpu())
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"].cpu(), self.device)
        if best:
            # best.safetensors may be newer than this checkpoint (killed in between, or an older checkpoint
            # was used): rewrite it from the checkpoint so that both name the same epoch.
            self.best_state = best
            if self.world.is_main:
                save_tensors(self.run_dir / BEST_FILE, best,
                             {"model": self.model.name, "epoch": str(state["best_epoch"])})
        return state
