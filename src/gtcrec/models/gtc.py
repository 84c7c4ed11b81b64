"""GTC: user-aware conditional generative total-correlation learning (arXiv 2604.03014).

Parallel LightGCNs over the user-item graph: one on learned ID embeddings (the interaction view) and
one per content modality, whose item inputs are projected features (Sec. 3.2). Per content modality, a
conditional DDPM learns that modality's content given the interaction view; content generated from it
by reverse sampling enters the modality's view. A total-correlation bound (Symile) aligns the
interaction view with the content views (Sec. 3.3). Fusion: the product of the content views refines
the interaction view through a similarity gate with a learnable temperature, with a residual (Sec. 3.4).
Loss: BPR + lambda_d L_diff + lambda_tc L_TC + L2 (Sec. 3.5).

Every place where the paper, the official code and this file differ is an option; docs/gtc.md has the
table. The dataclass defaults reproduce the model as it was before those options existed, so every
saved run still loads and means what it meant; the presets (``gtc``, ``gtc-paper``) choose the wiring.

State is explicit:
* every denoiser is a registered sub-module (trained, saved, counted);
* generated content is a buffer set only by :meth:`GTC.refresh`, which the trainer calls after every
  epoch and ``load_state_dict`` after loading; evaluation reads it and is deterministic (fixed seed);
* :meth:`GTC.encode` returns every view as a typed :class:`Views`, never under a magic key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError, check_choices
from ..diffusion import (
    ConditionalMLPUNet,
    GenerateMethod,
    NoiseSchedule,
    ScheduleKind,
    diffusion_loss,
    generate,
    predict_clean,
)
from ..evaluation.analysis import INTERACTION, ModalityViews, place_in_block
from ..graph import (
    item_knn_graph,
    lightgcn_propagate,
    normalize_graph,
    propagate,
    to_torch_sparse,
    user_cooccurrence_graph,
)
from .alignment import (
    MIPScaling,
    PairwiseInfoNCELoss,
    TCNegatives,
    TotalCorrelationLoss,
    max_n_squared_rows,
)
from .base import (
    ModelInputs,
    Recommender,
    bpr_loss,
    identifier_modalities,
    l2_penalty,
    register_model,
)

# tc: Symile's total-correlation bound; pairwise: InfoNCE over every pair of views (the "w/o TC" ablation).
Alignment = Literal["tc", "pairwise", "none"]
# What the alignment sees, for the batch's positive items:
#   inputs: ID embeddings and projected features (before propagation);
#   outputs: the LightGCN outputs of every view;
#   generated: the interaction view (the DDPM's condition) and each modality's generated content, here the
#     denoiser's estimate of x_0 from the target noised to partial_t, so the alignment trains the denoiser
#     (paper Sec. 3.3; without diffusion, the targets themselves).
TCOn = Literal["inputs", "outputs", "generated"]
# Where the DDPM lives:
#   item_inputs: x_0 = an item's projected features, condition = its interaction view; generated content
#     is added to the content LightGCN's item input (ours before issue 17; the official code diffuses the
#     projected features too, conditioned on the raw ID embedding);
#   views: x_0 = the content LightGCN's output for every user and item, condition = the interaction view of
#     the same node; generated content is added to the view (paper Sec. 3.2: denoise E_v and E_t guided by
#     E_int).
DiffusionSpace = Literal["item_inputs", "views"]
# The users' input to each content LightGCN: separate: a learned table per modality (the official code);
# id: the users' interaction ID embeddings (paper Sec. 3.2, "the same initialized embeddings").
UserContentInput = Literal["separate", "id"]
Fusion = Literal["gate", "concat"]  # gate: paper Sec. 3.4; concat: [interaction, content views] (the Base)
# The gate's output: with_views: [refined interaction view, content views] (the official code's concatenation);
# refined: the refined interaction view alone (paper Sec. 3.4).
GateOutput = Literal["with_views", "refined"]
# L2 on: embeddings: the batch's rows of the embedding tables; all: those plus every other weight tensor
# (projections, denoisers; paper Sec. 3.5 regularises all parameters). Scalars are never penalised.
RegScope = Literal["embeddings", "all"]


@dataclass
class GTCConfig:
    embedding_dim: int = 64  # paper: d = 64
    n_layers: int = 2  # not given by the paper; LightGCN-style depth
    reg_weight: float = 1e-4
    reg_scope: RegScope = "embeddings"
    user_content_input: UserContentInput = "separate"
    # Diffusion (paper Sec. 3.2).
    use_diffusion: bool = True
    diffusion_space: DiffusionSpace = "item_inputs"
    diffusion_standardize: bool = False  # x_0 standardised per dimension (statistics of all rows, no gradient)
    diffusion_steps: int = 600
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: ScheduleKind = "linear"
    denoiser_hidden: list[int] = field(default_factory=lambda: [256, 128])
    denoiser_emb_dim: int = 64
    share_denoiser: bool = False
    lambda_diff: float = 0.7
    diffusion_detach: bool = True  # L_diff trains the denoiser only; it does not reshape the encoders
    generation: GenerateMethod = "ddim"  # ancestral (Eq. 5, all T steps) | ddim | partial
    generation_steps: int = 50  # DDIM steps
    partial_t: int = 100  # partial generation starts here; tc_on=generated estimates x_0 from here
    generation_seed: int = 0
    # Alignment (paper Sec. 3.3).
    alignment: Alignment = "tc"
    tc_on: TCOn = "inputs"
    tc_negatives: TCNegatives = "n"
    tc_mip_scaling: MIPScaling = "none"
    tc_detach_interaction: bool = False  # the alignment does not move the interaction view
    lambda_tc: float = 0.4
    tc_temperature: float = 0.07
    tc_max_items: int = 1024  # at most this many of the batch's items (and users) enter the TC and DDPM losses
    # Optional homogeneous graphs (the official code uses a DRAGON backbone); 0 turns one off.
    item_knn_k: int = 0  # item-item top-k cosine graph per content modality, from the raw features
    user_knn_k: int = 0  # user-user top-k graph by shared training items
    # Fusion (paper Sec. 3.4).
    fusion: Fusion = "gate"
    gate_output: GateOutput = "with_views"
    gate_temperature: float = 1.0
    gate_rescale: bool = True  # rescale the content product to the norm of the interaction view
    gate_learned_weight: bool = False  # the gated term times a learned scalar that starts at 0

    def __post_init__(self):
        check_choices(self, "GTC")
        positive = {"embedding_dim": self.embedding_dim, "diffusion_steps": self.diffusion_steps,
                    "generation_steps": self.generation_steps, "denoiser_emb_dim": self.denoiser_emb_dim}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"GTC option {name}={value}: expected >= 1")
        if self.n_layers < 0:
            raise ValueError(f"GTC option n_layers={self.n_layers}: expected >= 0")
        # Checked only where the option is read, so that e.g. T = 100 with DDIM needs no partial_t.
        if self.use_diffusion and self.generation == "ddim" and self.generation_steps > self.diffusion_steps:
            raise ValueError(f"GTC option generation_steps={self.generation_steps}: expected at most "
                             f"diffusion_steps={self.diffusion_steps}")
        uses_partial_t = self.generation == "partial" or (self.tc_on == "generated" and self.alignment != "none")
        if self.use_diffusion and uses_partial_t and not 0 <= self.partial_t < self.diffusion_steps:
            raise ValueError(f"GTC option partial_t={self.partial_t}: expected 0 <= partial_t < "
                             f"diffusion_steps={self.diffusion_steps}")
        if self.tc_max_items < 2:
            raise ValueError(f"GTC option tc_max_items={self.tc_max_items}: expected >= 2")
        for name in ("reg_weight", "lambda_diff", "lambda_tc"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"GTC option {name}={value}: expected a finite number >= 0")
        for name in ("tc_temperature", "gate_temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"GTC option {name}={value}: expected a finite number > 0")


@dataclass
class Views:
    """One representation per view for the same rows: the interaction view and each content modality's."""

    interaction: torch.Tensor
    content: dict[str, torch.Tensor] = field(default_factory=dict)

    def select(self, rows: torch.Tensor) -> Views:
        return Views(self.interaction.index_select(0, rows), {m: v.index_select(0, rows) for m, v in self.content.items()})


@dataclass
class GTCEncoding:
    """What one pass of the encoders gives: the views, and the DDPM's targets and condition."""

    users: Views  # per-view representations that the fusion reads (generated content applied)
    items: Views
    content_inputs: dict[str, torch.Tensor]  # Linear(features) per modality, (n_items, d)
    targets: dict[str, torch.Tensor]  # x_0 of each modality's DDPM, rows as diffusion_space says
    condition: torch.Tensor  # the interaction view on the same rows: the DDPM's condition


@dataclass
class GTCLoss:
    """GTC's loss terms (paper Eq. 12), each already weighted, plus how the alignment compares with chance."""

    bpr: torch.Tensor
    reg: torch.Tensor
    diff: torch.Tensor | None = None  # lambda_d * L_diff
    align: torch.Tensor | None = None  # lambda_tc * L_TC (or * the pairwise loss)
    align_raw: torch.Tensor | None = None  # the unweighted alignment loss, detached
    align_chance: torch.Tensor | None = None  # its value at chance, log(number of candidates)

    @property
    def total(self) -> torch.Tensor:
        return sum(t for t in (self.bpr, self.reg, self.diff, self.align) if t is not None)

    def to_dict(self) -> dict[str, torch.Tensor]:
        """The trainer's form: ``loss`` is minimised; every other entry is logged as its epoch mean."""
        out = {"loss": self.total, "bpr": self.bpr, "reg": self.reg}
        for name in ("diff", "align", "align_raw", "align_chance"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class TargetScale:
    """Per-dimension standardisation of a DDPM target, from statistics of all its rows (no gradient)."""

    def __init__(self, target: torch.Tensor | None):
        if target is None:
            self.mean = self.std = None
        else:
            target = target.detach()
            self.mean = target.mean(dim=0)
            self.std = target.std(dim=0).clamp_min(1e-6) if len(target) > 1 else torch.ones_like(self.mean)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else x * self.std + self.mean


def _clamp_log_(parameter: nn.Parameter, low: float, high: float) -> torch.Tensor:
    """exp of a log-parameter kept in [low, high] by clamping the parameter itself (gradient kept at the edge)."""
    with torch.no_grad():
        parameter.clamp_(math.log(low), math.log(high))
    return parameter.exp()


@register_model
class GTC(Recommender):
    name = "gtc"
    config_class = GTCConfig

    def __init__(self, inputs: ModelInputs, config: GTCConfig):
        super().__init__(inputs, config)
        d = config.embedding_dim
        self.modalities = identifier_modalities(inputs, "GTC")
        self.register_buffer("adjacency", to_torch_sparse(inputs.norm_adjacency), persistent=False)
        self.user_id = nn.Embedding(self.n_users, d)
        self.item_id = nn.Embedding(self.n_items, d)
        tables = [self.user_id, self.item_id]
        if config.user_content_input == "separate":
            self.user_content = nn.ModuleDict({m: nn.Embedding(self.n_users, d) for m in self.modalities})
            tables += list(self.user_content.values())
        for emb in tables:
            nn.init.xavier_uniform_(emb.weight)
        self.project = nn.ModuleDict({m: nn.Linear(inputs.features[m].shape[1], d) for m in self.modalities})
        for m in self.modalities:
            self.register_buffer(f"feat_{m}", torch.as_tensor(inputs.features[m], dtype=torch.float32),
                                 persistent=False)

        if config.item_knn_k > 0:
            for m in self.modalities:
                graph = normalize_graph(item_knn_graph(inputs.features[m], config.item_knn_k), "sym")
                self.register_buffer(f"item_graph_{m}", to_torch_sparse(graph), persistent=False)
        if config.user_knn_k > 0:
            graph = normalize_graph(user_cooccurrence_graph(inputs.train_csr, config.user_knn_k), "sym")
            self.register_buffer("user_graph", to_torch_sparse(graph), persistent=False)

        self.diffuses = config.use_diffusion and bool(self.modalities)
        if self.diffuses:
            self.schedule = NoiseSchedule(config.diffusion_steps, config.beta_start, config.beta_end,
                                          config.beta_schedule)

            def make_denoiser() -> ConditionalMLPUNet:
                return ConditionalMLPUNet(d, d, tuple(config.denoiser_hidden), config.denoiser_emb_dim)

            shared = make_denoiser() if config.share_denoiser else None
            self.denoisers = nn.ModuleDict({m: shared or make_denoiser() for m in self.modalities})
            # How much generated content enters each view; starts at 0 so an untrained denoiser cannot
            # corrupt the content early on, and is learned from the BPR signal.
            self.generated_weight = nn.ParameterDict({m: nn.Parameter(torch.zeros(())) for m in self.modalities})
            for m in self.modalities:  # set by refresh(); derived from the weights, so never saved
                self.register_buffer(f"generated_content_{m}", None, persistent=False)

        n_views = 1 + len(self.modalities)
        self.alignment: nn.Module | None = None
        if config.alignment != "none" and n_views >= 2:
            if config.alignment == "tc" and config.tc_negatives == "n_squared":
                limit = max_n_squared_rows(n_views)
                if config.tc_max_items > limit:
                    raise ConfigError(f"model_params (gtc): tc_max_items={config.tc_max_items} with "
                                      f"tc_negatives=n_squared over {n_views} views needs "
                                      f"{config.tc_max_items ** n_views:,} logits per anchor; expected "
                                      f"tc_max_items <= {limit}")
            self.alignment = (TotalCorrelationLoss(config.tc_negatives, config.tc_temperature,
                                                   mip_scaling=config.tc_mip_scaling)
                              if config.alignment == "tc" else PairwiseInfoNCELoss(config.tc_temperature))
        self.gates = config.fusion == "gate" and bool(self.modalities)
        if self.gates:
            self.log_gate_temperature = nn.Parameter(torch.tensor(math.log(config.gate_temperature)))
            if config.gate_learned_weight:
                self.gate_weight = nn.Parameter(torch.zeros(()))

    # --- encoders -------------------------------------------------------------------------
    def content_inputs(self) -> dict[str, torch.Tensor]:
        """Projected item features per modality (the content LightGCN's item inputs)."""
        return {m: self.project[m](getattr(self, f"feat_{m}")) for m in self.modalities}

    def encode_interaction(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) of the interaction LightGCN."""
        ego = torch.cat([self.user_id.weight, self.item_id.weight])
        out = lightgcn_propagate(self.adjacency, ego, self.config.n_layers)
        return out[: self.n_users], out[self.n_users:]

    def encode(self, generated: dict[str, torch.Tensor] | None, *, detach_user_id: bool = False) -> GTCEncoding:
        """One pass of every encoder; ``generated`` (from :meth:`generated`) enters the views, None leaves it out.

        ``detach_user_id``: the content LightGCNs read a detached copy of the users' ID embeddings (with
        ``user_content_input: id``), so that a loss on the content views cannot move the interaction view.
        """
        cfg = self.config
        in_views = cfg.diffusion_space == "views"
        user_int, item_int = self.encode_interaction()
        inputs = self.content_inputs()
        users, items = Views(user_int), Views(item_int)
        targets = {}
        for m in self.modalities:
            item_in = inputs[m]
            if generated is not None and not in_views:
                item_in = item_in + self.generated_weight[m] * generated[m]
            if cfg.user_content_input == "id":
                user_in = self.user_id.weight.detach() if detach_user_id else self.user_id.weight
            else:
                user_in = self.user_content[m].weight
            out = lightgcn_propagate(self.adjacency, torch.cat([user_in, item_in]), cfg.n_layers)
            targets[m] = out if in_views else inputs[m]
            if generated is not None and in_views:
                out = out + self.generated_weight[m] * generated[m]
            users.content[m], items.content[m] = out[: self.n_users], out[self.n_users:]
            if cfg.item_knn_k > 0:  # one hop over the item-item graph, residual
                items.content[m] = items.content[m] + propagate(getattr(self, f"item_graph_{m}"), items.content[m])
        if cfg.user_knn_k > 0:
            users = Views(users.interaction + propagate(self.user_graph, users.interaction),
                          {m: h + propagate(self.user_graph, h) for m, h in users.content.items()})
        condition = torch.cat([user_int, item_int]) if in_views else item_int
        return GTCEncoding(users, items, inputs, targets, condition)

    def target_row(self, items: torch.Tensor) -> torch.Tensor:
        """The rows of the DDPM's target (and condition) that hold ``items``."""
        return items + self.n_users if self.config.diffusion_space == "views" else items

    def target_scale(self, target: torch.Tensor) -> TargetScale:
        return TargetScale(target if self.config.diffusion_standardize else None)

    # --- fusion ---------------------------------------------------------------------------
    def gated_content(self, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        """(gate per row, gated content term that refines the interaction view), paper Eq. 10."""
        h_id = views.interaction
        h_c = views.content[self.modalities[0]]
        for m in self.modalities[1:]:
            h_c = h_c * views.content[m]
        temperature = _clamp_log_(self.log_gate_temperature, 1e-2, 1e2)
        gate = torch.sigmoid(F.cosine_similarity(h_id, h_c, dim=-1) / temperature)
        if self.config.gate_rescale:  # raw content can be ~100x the ID scale; keep the residual comparable
            h_c = F.normalize(h_c, dim=-1) * h_id.norm(dim=-1, keepdim=True)
        term = gate.unsqueeze(-1) * h_c
        if self.config.gate_learned_weight:
            term = self.gate_weight * term
        return gate, term

    def fuse(self, views: Views) -> torch.Tensor:
        """The final representation of each row (scored by dot product)."""
        h_id = views.interaction
        if not self.modalities:
            return h_id
        content = [views.content[m] for m in self.modalities]
        if not self.gates:
            return torch.cat([h_id, *content], dim=-1)
        refined = h_id + self.gated_content(views)[1]
        if self.config.gate_output == "refined":
            return refined
        return torch.cat([refined, *content], dim=-1)

    # --- generation -----------------------------------------------------------------------
    @torch.no_grad()
    def generate_content(self) -> dict[str, torch.Tensor]:
        """Content generated by reverse sampling for every target row, conditioned on the interaction view.

        Each modality draws from its own generator, seeded from ``generation_seed`` and the modality's position:
        the same weights and options give the same content, and with DDIM (whose only noise is the start)
        a row's content does not depend on how many rows there are (items added later leave it unchanged;
        exactly so when the content dimension is a multiple of 16, as the default 64: torch's CPU normal
        draws fill a shorter tail otherwise).
        The generators live on the CPU: CUDA's stream differs from the CPU's for a seed, and a model must
        recommend the same on either device.
        """
        cfg = self.config
        enc = self.encode(None)
        out = {}
        for index, m in enumerate(self.modalities):
            generator = torch.Generator()
            generator.manual_seed(cfg.generation_seed * 1_000_003 + index)
            scale = self.target_scale(enc.targets[m])
            sample = generate(self.denoisers[m], self.schedule, enc.condition, method=cfg.generation,
                              steps=cfg.generation_steps, t_start=cfg.partial_t,
                              x0=scale.normalize(enc.targets[m]), generator=generator)
            out[m] = scale.restore(sample)
        return out

    @torch.no_grad()
    def refresh(self) -> None:
        """Generate content from the current weights and options, and keep it for training and evaluation."""
        if self.diffuses:
            for m, content in self.generate_content().items():
                setattr(self, f"generated_content_{m}", content)

    def generated(self) -> dict[str, torch.Tensor] | None:
        """The content of the last :meth:`refresh` (made now if there has been none); None without diffusion."""
        if not self.diffuses:
            return None
        if getattr(self, f"generated_content_{self.modalities[0]}") is None:
            self.refresh()
        return {m: getattr(self, f"generated_content_{m}") for m in self.modalities}

    # --- interface ------------------------------------------------------------------------
    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encode(self.generated())
        return self.fuse(enc.users), self.fuse(enc.items)

    def modality_views(self) -> ModalityViews | None:
        """The interaction and content views as parts of the fused representation: each in its own block when
        the fusion concatenates them (``gate_output: with_views``, or no gate), else all in the refined space."""
        if not self.modalities:
            return None
        enc = self.encode(self.generated())
        names = [INTERACTION, *self.modalities]
        concatenated = not self.gates or self.config.gate_output == "with_views"

        def parts(views: Views) -> dict[str, torch.Tensor]:
            values = [views.interaction, *(views.content[m] for m in self.modalities)]
            if not concatenated:
                return dict(zip(names, values))
            return {name: place_in_block(v, j, len(values)) for j, (name, v) in enumerate(zip(names, values))}

        return ModalityViews(self.fuse(enc.users), parts(enc.users), parts(enc.items))

    def loss(self, users, pos, neg):
        return self.loss_terms(users, pos, neg).to_dict()

    def loss_terms(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> GTCLoss:
        cfg = self.config
        enc = self.encode(self.generated())
        u = self.fuse(enc.users.select(users))  # fusion is row-wise: only the batch's rows are needed
        bpr = bpr_loss((u * self.fuse(enc.items.select(pos))).sum(-1), (u * self.fuse(enc.items.select(neg))).sum(-1))
        terms = GTCLoss(bpr=bpr, reg=cfg.reg_weight * self.l2_terms(users, pos, neg))
        items = self._subset(torch.unique(pos))
        scales = {m: self.target_scale(enc.targets[m]) for m in self.modalities}
        if self.diffuses:
            rows = self.target_row(items)
            if cfg.diffusion_space == "views":  # users have content views too
                rows = torch.cat([self._subset(torch.unique(users)), rows])
            losses = []
            for m in self.modalities:
                x0, cond = scales[m].normalize(enc.targets[m].index_select(0, rows)), enc.condition.index_select(0, rows)
                if cfg.diffusion_detach:
                    x0, cond = x0.detach(), cond.detach()
                losses.append(diffusion_loss(self.denoisers[m], self.schedule, x0, cond))
            terms.diff = cfg.lambda_diff * torch.stack(losses).mean()
        if self.alignment is not None:
            views = self.alignment_views(enc, items, scales)
            raw = self.alignment(views)
            terms.align = cfg.lambda_tc * raw
            terms.align_raw = raw.detach()
            candidates = len(items) ** (len(views) - 1) if getattr(self.alignment, "negatives", "n") == "n_squared" \
                else len(items)
            terms.align_chance = raw.new_tensor(math.log(candidates))
        return terms

    def alignment_views(self, enc: GTCEncoding, items: torch.Tensor, scales: dict[str, TargetScale]
                        ) -> list[torch.Tensor]:
        """[interaction view, content view per modality] of ``items``, as ``tc_on`` says."""
        cfg = self.config
        rows = self.target_row(items)
        interaction = {"inputs": lambda: self.item_id(items), "outputs": lambda: enc.items.interaction.index_select(0, items),
                       "generated": lambda: enc.condition.index_select(0, rows)}[cfg.tc_on]()
        if cfg.tc_detach_interaction:
            interaction = interaction.detach()
            if cfg.user_content_input == "id" and cfg.tc_on != "inputs":
                # The content views propagate the users' ID embeddings too: rebuild them from a detached copy,
                # or TC would still move the interaction view through them.
                enc = self.encode(self.generated() if self.diffuses else None, detach_user_id=True)
        content = []
        for m in self.modalities:
            if cfg.tc_on == "inputs":
                content.append(enc.content_inputs[m].index_select(0, items))
            elif cfg.tc_on == "outputs":
                content.append(enc.items.content[m].index_select(0, items))
            elif self.diffuses:  # differentiable generation: the denoiser's x_0 estimate from partial_t
                scale = scales[m]
                estimate = predict_clean(self.denoisers[m], self.schedule, scale.normalize(enc.targets[m].index_select(0, rows)),
                                         interaction, cfg.partial_t)
                content.append(scale.restore(estimate))
            else:  # no DDPM: the content it would have modelled
                content.append(enc.targets[m].index_select(0, rows))
        return [interaction, *content]

    def l2_terms(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """The unweighted L2 term: the batch's embedding rows, and with ``reg_scope=all`` every other weight."""
        rows = [self.user_id(users), self.item_id(pos), self.item_id(neg)]
        if self.config.user_content_input == "separate":
            rows += [self.user_content[m](users) for m in self.modalities]
        penalty = l2_penalty(*rows)
        if self.config.reg_scope == "all":
            tables = {id(module.weight) for module in self.modules() if isinstance(module, nn.Embedding)}
            weights = [p for p in self.parameters() if p.dim() > 0 and id(p) not in tables]
            penalty = penalty + 0.5 * sum(p.pow(2).sum() for p in weights)
        return penalty

    def _subset(self, rows: torch.Tensor) -> torch.Tensor:
        """At most ``tc_max_items`` of ``rows``, drawn at random (unique() sorts: a prefix would favour low ids)."""
        if len(rows) > self.config.tc_max_items:
            rows = rows[torch.randperm(len(rows), device=rows.device)[: self.config.tc_max_items]]
        return rows

    # --- diagnostics ----------------------------------------------------------------------
    @torch.no_grad()
    def diagnostics(self) -> dict[str, float]:
        """Whether each part works: the TC logit scale, generated-content weights, the gate, score shares."""
        was_training = self.training
        self.eval()
        try:
            enc = self.encode(self.generated())
            out: dict[str, float] = {}
            if self.alignment is not None:
                out["tc_logit_scale"] = float(self.alignment.logit_scale())  # before tc_mip_scaling's factor
            if self.diffuses:
                out.update({f"generated_weight_{m}": float(w) for m, w in self.generated_weight.items()})
            if self.gates:
                gates = torch.cat([self.gated_content(enc.users)[0], self.gated_content(enc.items)[0]])
                out["gate_mean"], out["gate_std"] = float(gates.mean()), float(gates.std())
                out["gate_temperature"] = float(self.log_gate_temperature.exp())
                if self.config.gate_learned_weight:
                    out["gate_weight"] = float(self.gate_weight)
            out.update({f"score_share_{k}": v for k, v in self.score_shares(enc).items()})
            return out
        finally:
            self.train(was_training)

    @torch.no_grad()
    def score_shares(self, enc: GTCEncoding, sample: int = 1024) -> dict[str, float]:
        """Each part's share of the score variance over a fixed sample of (user, item) pairs.

        Parts: the interaction view; the gated content term (gate fusion; with its cross terms with the
        interaction view); each content view (when the fused representation carries it). Shares are the
        variances of each part's scores normalised to sum 1, covariances ignored: a rough guide, not a
        decomposition.
        """
        if not self.modalities:
            return {}
        generator = torch.Generator().manual_seed(0)
        device = enc.condition.device
        users = torch.randperm(self.n_users, generator=generator)[:sample].to(device)
        items = torch.randperm(self.n_items, generator=generator)[:sample].to(device)
        u, i = enc.users.select(users), enc.items.select(items)
        scores = {"interaction": u.interaction @ i.interaction.T}
        if self.gates:
            refined_u = u.interaction + self.gated_content(u)[1]
            refined_i = i.interaction + self.gated_content(i)[1]
            scores["gated"] = refined_u @ refined_i.T - scores["interaction"]
        if not self.gates or self.config.gate_output == "with_views":
            scores.update({m: u.content[m] @ i.content[m].T for m in self.modalities})
        variances = {k: float(s.var()) for k, s in scores.items()}
        total = sum(variances.values()) or 1.0
        return {k: v / total for k, v in variances.items()}
