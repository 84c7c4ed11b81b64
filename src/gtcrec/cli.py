"""Command-line interface: ``gtcrec train | bench | grid | evaluate | data stats|import|build|synthetic | features text|image``.

Built on argparse (standard library): it supports variadic options such as ``--seeds 1 2 3``,
which click/typer options do not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import traceback
import warnings
from pathlib import Path

from .config import (
    PRESETS_DIR,
    ConfigError,
    RunConfig,
    build_config,
    load_yaml_config,
    parse_override,
    saved_run_config,
)
from .data.errors import DataError, DataWarning
from .errors import UserError


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")  # torch's beta-status notes, not ours
    logging.captureWarnings(True)


def _train_config(args: argparse.Namespace) -> RunConfig:
    layers = []
    model = args.model
    if args.config:
        layers.append(load_yaml_config(args.config))
    elif (PRESETS_DIR / f"{model or RunConfig().model}.yaml").exists():
        layers.append(load_yaml_config(model or RunConfig().model))  # the model's preset is the base
    cli: dict = {}
    if model:
        cli["model"] = model
    if args.dataset:
        cli.setdefault("data", {})["dataset"] = args.dataset
    if args.modalities is not None:
        cli.setdefault("data", {})["modalities"] = args.modalities
    if args.seeds:
        cli["seeds"] = args.seeds
    for key in ("epochs", "lr", "batch_size", "patience", "device"):
        value = getattr(args, key)
        if value is not None:
            cli.setdefault("train", {})[key] = value
    if args.deterministic:
        cli.setdefault("train", {})["deterministic"] = True
    if args.no_progress:
        cli.setdefault("train", {})["progress"] = False
    if args.output_dir:
        cli["output_dir"] = args.output_dir
    if args.name:
        cli["name"] = args.name
    layers.append(cli)
    for override in args.set or []:
        layers.append(parse_override(override))
    return build_config(*layers)


def _refuse_torchrun(command: str) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(f"gtcrec {command} under torchrun: not supported (its runs are not rank-aware); launch "
                          "gtcrec train with torchrun, one run at a time")


def cmd_train(args: argparse.Namespace) -> int:
    # Options are checked (config built) before torch is imported: a mistake is reported at once.
    existing = args.resume or args.restart
    if existing:
        if args.resume and args.restart:
            raise ConfigError("give either --resume or --restart, not both")
        if not Path(existing).is_dir():
            raise DataError("no such run folder; expected a folder written by gtcrec train", path=existing)
        from .train.run import saved_config_path

        if not saved_config_path(existing).exists():
            raise DataError("no config.yaml: not a gtcrec run folder", path=existing)
        config = saved_run_config(load_yaml_config(str(saved_config_path(existing))))
    else:
        config = _train_config(args)
    if args.print_config:
        print(config.to_yaml())
        return 0
    from .train import train

    result = train(config, resume_dir=args.resume, restart_dir=args.restart)
    if os.environ.get("RANK", "0") != "0":  # one rank of a torchrun job: rank 0 reports
        return 0
    print(result.to_markdown())
    print(f"\nrun folder: {result.run_dir} (summary.md, summary.csv, seed*/metrics.json, seed*/best.safetensors)")
    return 0


def _protocol_overrides(args: argparse.Namespace) -> list[dict]:
    """bench/grid options that apply to every run: --epochs --patience --device --no-progress --set."""
    train_opts = {key: getattr(args, key) for key in ("epochs", "patience", "device") if getattr(args, key) is not None}
    if args.no_progress:
        train_opts["progress"] = False
    return ([{"train": train_opts}] if train_opts else []) + [parse_override(o) for o in args.set or []]


def _command_line(args: argparse.Namespace) -> str:
    return "gtcrec " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if args.argv is None else args.argv))


def cmd_bench(args: argparse.Namespace) -> int:
    _refuse_torchrun("bench")
    from .train.bench import entry_config, parse_entries, parse_seeds, run_bench

    entries = parse_entries(args.models)
    seeds = parse_seeds(args.seeds)
    output_dir = Path(args.output_dir or f"runs/bench-{Path(args.dataset).name}")
    overrides = _protocol_overrides(args)
    if args.print_config:
        for entry in entries:
            print(f"# {entry}\n" + entry_config(entry, args.dataset, seeds, output_dir, overrides).to_yaml())
        return 0
    report = run_bench(entries, args.dataset, seeds, output_dir=output_dir, overrides=overrides,
                       command=_command_line(args))
    print(report.to_markdown())
    print(f"written: {output_dir / 'bench.md'}, {output_dir / 'bench.json'}; one run folder per model")
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    _refuse_torchrun("grid")
    from .train.bench import entry_config, parse_seeds
    from .train.grid import grid_points, parse_axis, run_grid

    axes = [parse_axis(text) for text in args.grid]
    seeds = parse_seeds(args.seeds)
    final_seeds = parse_seeds(args.final_seeds) if args.final_seeds else None
    output_dir = Path(args.output_dir or f"runs/grid-{Path(args.dataset).name}-{args.model}")
    overrides = _protocol_overrides(args)
    if args.print_config:
        for point in grid_points(axes):
            config = entry_config(args.model, args.dataset, seeds, output_dir, overrides + point.overrides)
            print(f"# {point.label}\n" + config.to_yaml())
        return 0
    report = run_grid(args.model, args.dataset, axes, seeds=seeds, final_seeds=final_seeds, output_dir=output_dir,
                      final_patience=args.final_patience, overrides=overrides, command=_command_line(args))
    print(report.to_markdown())
    print(f"written: {output_dir / 'grid.md'}, {output_dir / 'grid.json'}, {output_dir / 'best.yaml'} "
          f"(gtcrec train --config {output_dir / 'best.yaml'})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .evaluation import Evaluator
    from .train.run import load_trained_run
    from .train.seeding import resolve_device

    run, config, data, model = load_trained_run(args.run_dir, device=args.device, dataset=args.dataset)
    device = resolve_device(args.device or config.train.device)
    evaluator = Evaluator(data, args.split, ks=config.train.topk, batch_size=config.train.eval_batch_size,
                          device=device, mask_valid=config.data.mask_valid_at_test)
    with torch.no_grad():
        result = evaluator.evaluate(model)
    if args.json:
        print(json.dumps(result.metrics, indent=2))
    else:
        print(f"{config.model} ({run}) on {data.name} {args.split}, {result.n_users} users")
        for name, value in result.metrics.items():
            print(f"  {name:<14} {value:.4f}")
    return 0


def _read_ids(path: str) -> list[str]:
    """One id per line (blank lines and a header named user/user_id are skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", path=path) from None
    ids = [line.strip() for line in lines if line.strip()]
    if ids and ids[0].lower() in ("user", "user_id", "userid"):
        ids = ids[1:]
    if not ids:
        raise DataError("no user ids in the file", path=path)
    return ids


def cmd_recommend(args: argparse.Namespace) -> int:
    from .serving.output import write_recommendations

    chosen = sum(x is not None and x is not False for x in (args.users, args.users_file, args.all or None))
    if chosen != 1:
        raise ConfigError("recommend: give exactly one of --users, --users-file, --all")
    if args.k < 1:
        raise ConfigError(f"--k {args.k}: expected a positive integer")
    users = None if args.all else (args.users or _read_ids(args.users_file))
    if (Path(args.run_dir) / "manifest.json").is_file() and not args.ann and args.device == "cpu":
        from .serving.exported import (
            ExportedTable,  # an export ranks with numpy alone: no torch to start
        )

        table = ExportedTable(args.run_dir)
        if users is not None:
            table.to_internal(users)  # unknown ids are named before anything is written
        batches = table.iter_recommend(users, args.k, exclude_seen=not args.include_seen, batch_size=args.batch_size)
    else:
        from .serving import load

        recommender = load(args.run_dir, device=args.device)
        if users is not None:
            recommender.users.to_internal(users)  # unknown ids are named before anything is written
        batches = recommender.iter_recommend(users, args.k, exclude_seen=not args.include_seen,
                                             batch_size=args.batch_size, method="ann" if args.ann else "exact")
    rows = write_recommendations(batches, args.out)
    print(f"wrote {rows} rows (user, rank, item, score) to {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .serving import load

    folder = load(args.run_dir, device=args.device).export(args.out, overwrite=args.overwrite)
    print(f"wrote {folder} (embeddings.safetensors, user_ids.tsv, item_ids.tsv, manifest.json)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    page = write_report(args.folders, args.out)
    print(f"wrote {page} and its figures (PNG) and numbers (CSV)")
    return 0


def _modality_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        modality, sep, rest = value.partition("=")
        if not sep or not modality or not rest:
            raise ConfigError(f"{option} {value!r}: expected MODALITY=VALUE")
        if modality in out:
            raise ConfigError(f"{option}: modality {modality!r} given twice")
        out[modality] = rest
    return out


def cmd_add_items(args: argparse.Namespace) -> int:
    from .data.features.common import render_template, template_fields
    from .data.features.image import images_in_folder
    from .data.importer import read_table
    from .serving import load
    from .serving.recommender import write_added_items

    texts = _modality_pairs(args.text, "--text")
    image_cols = _modality_pairs(args.image_col, "--image-col")
    image_dirs = _modality_pairs(args.image_dir, "--image-dir")
    feature_files = _modality_pairs(args.features, "--features")
    for template in texts.values():
        template_fields(template)
    table = read_table(args.items)
    id_col = args.id_col or table.columns[0]
    if id_col not in table.columns:
        raise DataError(f"no column {id_col!r}; columns: {list(table.columns)}", path=args.items)
    ids = [str(x) for x in table[id_col]]
    content: dict[str, list] = {m: render_template(table, t, args.items) for m, t in texts.items()}
    root = Path(args.items).parent
    for m, col in image_cols.items():
        if col not in table.columns:
            raise DataError(f"--image-col {m}={col}: no such column; columns: {list(table.columns)}", path=args.items)
        content[m] = [str(root / c) if isinstance(c, str) and c.strip() else None for c in table[col]]
    for m, folder in image_dirs.items():
        found = images_in_folder(folder)
        content[m] = [str(found[i]) if i in found else None for i in ids]
    features = {}
    for m, path in feature_files.items():
        from .data.validation import load_npy

        features[m] = load_npy(path)
    recommender = load(args.run_dir, device=args.device)
    if recommender.run_dir is None:
        raise DataError("an export folder has no content path; give a run folder", path=args.run_dir)
    recommender.add_items(ids, features, content=content, id_init=args.id_init)
    path = write_added_items(recommender)
    print(f"added {len(ids)} items ({recommender.n_items} in the catalogue); kept in {path}")
    return 0


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def cmd_serve(args: argparse.Namespace) -> int:
    # both imported before the run is loaded, so that a missing extra is named at once
    from .serving import load
    from .serving.http import serve

    if args.max_batch < 1:
        raise ConfigError(f"--max-batch {args.max_batch}: expected a positive integer")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: expected 1..65535")

    from .serving.display import ItemDisplay

    api_key = os.environ.get(args.api_key_env) or None
    recommender = load(args.run_dir, device=args.device)
    if args.items:
        display = ItemDisplay.from_table(args.items, id_col=args.items_id_col, title_col=args.title_col,
                                         image_dir=args.image_dir)
    else:
        display = ItemDisplay.from_dataset(recommender.dataset_folder)
        if args.image_dir:
            display.image_dir = Path(args.image_dir)
    if args.host not in LOOPBACK_HOSTS:
        logging.getLogger("gtcrec").warning("serving on %s: reachable from other machines", args.host)
    print(f"serving {recommender.model_name} ({recommender.n_users} users, {recommender.n_items} items) on "
          f"http://{args.host}:{args.port} (API docs: /docs)", flush=True)
    if api_key is None:
        print(f"POST /items is disabled: set ${args.api_key_env} to an API key to enable it", flush=True)
    serve(recommender, host=args.host, port=args.port, max_batch=args.max_batch, api_key=api_key, display=display)
    return 0


def cmd_data_stats(args: argparse.Namespace) -> int:
    from .data import dataset_stats, format_stats, load_dataset

    stats = dataset_stats(load_dataset(args.dataset))
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _content_options(args: argparse.Namespace):
    from .data.catalogue import ContentOptions

    return ContentOptions(
        items=args.items, items_id_col=args.items_id_col, text_template=args.text_template,
        text_columns=args.text_columns.split(",") if args.text_columns else None, text_model=args.text_model,
        image_dir=args.image_dir, image_col=args.image_col, image_root=args.image_root,
        image_backbone=args.image_backbone, image_weights=args.image_weights, image_resize=args.image_resize,
        fill=args.fill, device=args.device, workers=args.workers, progress=not args.no_progress, sep=args.sep)


def cmd_data_import(args: argparse.Namespace) -> int:
    from .data.catalogue import import_catalogue

    report = import_catalogue(
        args.interactions, args.out, content=_content_options(args), name=args.name, user_col=args.user_col,
        item_col=args.item_col, rating_col=args.rating_col, timestamp_col=args.timestamp_col,
        min_rating=args.min_rating, kcore=args.kcore, seed=args.seed, sep=args.sep, force=args.force)
    print(report.to_json())
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from .data.sources import build_ml100k, build_ml100k_mm

    builders = {"ml-100k": build_ml100k, "ml-100k-mm": build_ml100k_mm}
    print(builders[args.name]())
    return 0


def cmd_features_text(args: argparse.Namespace) -> int:
    from .data.features import text_features_for_dataset

    report = text_features_for_dataset(
        args.dataset, args.items, id_col=args.id_col, template=args.template,
        columns=args.columns.split(",") if args.columns else None, modality=args.modality, model=args.model,
        batch_size=args.batch_size, device=args.device, fill=args.fill, progress=not args.no_progress, sep=args.sep)
    print(report.summary())
    return 0


def cmd_features_image(args: argparse.Namespace) -> int:
    from .data.features import image_features_for_dataset

    report = image_features_for_dataset(
        args.dataset, image_dir=args.image_dir, items_path=args.items, id_col=args.id_col, image_col=args.image_col,
        image_root=args.image_root, modality=args.modality, backbone=args.backbone, weights=args.weights,
        batch_size=args.batch_size, workers=args.workers, device=args.device, resize=args.resize, fill=args.fill,
        progress=not args.no_progress, sep=args.sep)
    print(report.summary())
    for failure in report.failed[:20]:
        print(f"  unreadable: {failure['path']} ({failure['error']})")
    return 0


def cmd_data_synthetic(args: argparse.Namespace) -> int:
    from .data import SyntheticConfig, make_synthetic, write_mmrec

    cfg = SyntheticConfig(n_users=args.users, n_items=args.items, seed=args.seed)
    if args.users < 1:
        raise ConfigError(f"--users {args.users}: expected an integer >= 1")
    if args.items <= cfg.max_interactions:
        raise ConfigError(f"--items {args.items}: expected more than {cfg.max_interactions} (the most items "
                          "a planted user interacts with)")
    target = Path(args.out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError("exists and is not an empty folder; expected a new or empty folder", path=args.out)
    out = write_mmrec(make_synthetic(cfg, name=args.name), args.out)
    print(f"wrote {out}")
    return 0


def _add_protocol_options(p: argparse.ArgumentParser, default_output: str) -> None:
    p.add_argument("--epochs", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--device")
    p.add_argument("--output-dir", help=f"default {default_output}")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="applies to every run")
    p.add_argument("--print-config", action="store_true")


# Help for options that several commands share, or that read the same everywhere (filled in where an
# option has none of its own; a test checks that every option ends up with one).
SHARED_HELP = {
    "verbose": "show the traceback of an error (and debug logging)",
    "epochs": "most training epochs (preset: 1000; training stops earlier by patience)",
    "lr": "learning rate (preset value when not given)",
    "batch_size": "training batch size (preset value when not given)",
    "patience": "validations without improvement before stopping (preset: 20)",
    "deterministic": "deterministic torch kernels (slower; bit-identical reruns on one machine)",
    "no_progress": "no progress bars (logs only)",
    "output_dir": "where run folders go (default runs/, or runs/bench-<dataset> / runs/grid-...)",
    "dataset": "dataset folder, built-in name (ml-100k, ml-100k-mm, synthetic) or a folder name under "
               "$GTCREC_DATA_DIR or ../shared/data",
    "device": "cpu, cuda, cuda:N or auto (a GPU when there is one)",
    "print_config": "print the resolved config(s) and exit without training",
    "run_dir": "run folder (its lowest-numbered seed is used) or seed folder",
    "split": "which split to evaluate",
    "json": "print JSON instead of a table",
    "name": "dataset name (default: the output folder's name)",
    "user_col": "column of user ids",
    "item_col": "column of item ids",
    "rating_col": "column of ratings (needed for --min-rating)",
    "timestamp_col": "column of timestamps (kept in the .inter file)",
    "min_rating": "keep only interactions rated at least this",
    "kcore": "iterative k-core filter: users and items with fewer interactions are dropped (1 keeps all)",
    "seed": "random seed (of the split, or of the planted data)",
    "items_id_col": "item id column of the items table",
    "image_resize": "how posters/images fit the encoder: crop (centre) or squash",
    "resize": "how images fit the encoder: crop (centre) or squash",
    "out": "output folder (new or empty)",
    "users": "number of users",
    "items": "number of items",
    "id_col": "item id column of the items table",
    "modality": "name of the modality written (<modality>_feat.npy)",
    "fill": "row given to items without content: the mean of the encoded rows, or zeros",
    "sep": "column separator of the items table (default: from the suffix: , for .csv, tab otherwise)",
    "image_col": "column of image paths in the items table",
    "image_root": "folder the image paths are relative to (default: the table's folder)",
    "workers": "image-reading worker processes (0: in the main process)",
}


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, where there is a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text \
                and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _fill_help(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _fill_help(sub)
        elif action.help is None:
            action.help = SHARED_HELP.get(action.dest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gtcrec", description="Multi-modal recommendation with GTC.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and evaluate a model (test at the best-validation epoch)")
    p.add_argument("--model", help="model name (lightgcn, bprmf, ...)")
    p.add_argument("--dataset", help="dataset folder, built-in (ml-100k, synthetic) or a name under shared/data")
    p.add_argument("--config", help="YAML config file or preset name")
    p.add_argument("--modalities", nargs="*", help="content modalities to use (default: all)")
    p.add_argument("--seeds", nargs="+", type=int, help="one run per seed; mean ± std table")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--output-dir")
    p.add_argument("--name", help="run folder name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any option, e.g. --set model_params.n_layers=3 --set train.weight_decay=0")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its checkpoints (written after every epoch)")
    p.add_argument("--restart", metavar="RUN_DIR", help="train a run again from scratch, in its folder, with its "
                                                         "config (its checkpoints and results are replaced)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="several models on one dataset under one protocol: one mean ± std table",
                       description="Each model (or preset, e.g. gtc-concat) trains with its preset for every "
                                   "seed; test at the best-validation epoch. Re-running the same command "
                                   "resumes: finished seeds are read back.")
    p.add_argument("--models", nargs="+", required=True, help="comma- or space-separated: gtc,dragon,freedom")
    p.add_argument("--dataset", required=True)
    p.add_argument("--seeds", nargs="+", default=["1..5"], help="1..5, 1,2,3 or 1 2 3 (default 1..5)")
    _add_protocol_options(p, "runs/bench-<dataset>")
    p.set_defaults(func=cmd_bench, argv=None)

    p = sub.add_parser("grid", help="hyper-parameter grid for one model, chosen on validation only",
                       description="Trains every point of the grid on --seeds, keeps the point with the best mean "
                                   "validation metric (train.valid_metric), writes grid.md, grid.json and "
                                   "best.yaml, and with --final-seeds runs the chosen point on those seeds and "
                                   "reports its test mean ± std. Test metrics never enter the choice. "
                                   "Re-running the same command resumes.")
    p.add_argument("--model", required=True, help="model or preset name (its preset is the base config)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,...",
                   help="one axis, e.g. --grid model_params.n_layers=1,2,3 --grid model_params.reg_weight=1e-3,1e-4")
    p.add_argument("--seeds", nargs="+", default=["1"], help="seeds every grid point trains on (default 1)")
    p.add_argument("--final-seeds", nargs="+", help="run the chosen point on these seeds too, e.g. 1..5")
    p.add_argument("--final-patience", type=int, metavar="P",
                   help="patience of the final seeds (default: --patience); they then train in "
                        "<output-dir>/final-patience-P, the selection runs stay as they are")
    _add_protocol_options(p, "runs/grid-<dataset>-<model>")
    p.set_defaults(func=cmd_grid, argv=None)

    p = sub.add_parser("evaluate", help="evaluate a saved best checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument("--dataset", help="override the dataset recorded in the run's config")
    p.add_argument("--device")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("recommend", help="top-k items for users of a trained run, to CSV or Parquet",
                       description="Loads the run's best-validation model, computes its representations once, "
                                   "and writes one row per (user, rank): user, rank, item, score, with the "
                                   "dataset's original ids. Users are streamed in batches (bounded memory).")
    p.add_argument("run_dir", help="run folder (lowest seed) or seed folder")
    p.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    p.add_argument("--users", nargs="+", help="original user ids")
    p.add_argument("--users-file", help="a file of user ids, one per line")
    p.add_argument("--all", action="store_true", help="every user of the run")
    p.add_argument("--out", required=True, help="output file: .csv, .tsv or .parquet (needs gtcrec[parquet])")
    p.add_argument("--include-seen", action="store_true", help="keep the users' training items (default: removed)")
    p.add_argument("--ann", action="store_true", help="approximate search in a faiss HNSW index (needs gtcrec[ann])")
    p.add_argument("--batch-size", type=int, default=1024, help="users scored at once (default 1024)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("export", help="user and item matrices, id maps and a manifest, readable without gtcrec")
    p.add_argument("run_dir", help="run folder (lowest seed) or seed folder")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="figures, CSVs and a Markdown page from saved runs and grids "
                                      "(needs gtcrec[plot])")
    p.add_argument("folders", nargs="+", help="run folders (seed*/metrics.json), grid folders (grid.json), or "
                   "LABEL=FOLDER[,FOLDER...]: a name for a run and several folders' seeds pooled under it "
                   "(e.g. image=runs/a/gtc,runs/b/gtc)")
    p.add_argument("--out", required=True, help="folder for report.md, the PNGs and the CSVs")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("add-items", help="make new items (no interactions) recommendable from their content",
                       description="Each of the run's modalities comes from one source: a text template over the "
                                   "items table (encoded by the dataset's own text encoder), an image column or "
                                   "folder (its image encoder), or a .npy of raw feature rows in table order. "
                                   "The items are kept beside the run (added_items.safetensors) and come back "
                                   "with gtcrec.load, recommend and serve.")
    p.add_argument("run_dir", help="run folder (lowest seed) or seed folder")
    p.add_argument("--items", required=True, help="table of the new items (CSV/TSV/Parquet), one row each")
    p.add_argument("--id-col", help="column of the new item ids (default: the first column)")
    p.add_argument("--text", action="append", metavar="MODALITY=TEMPLATE",
                   help="e.g. text='{title} ({year}). {genres}' (needs gtcrec[features])")
    p.add_argument("--image-col", action="append", metavar="MODALITY=COLUMN",
                   help="a column of image paths, relative to the table's folder")
    p.add_argument("--image-dir", action="append", metavar="MODALITY=FOLDER", help="images named by item id")
    p.add_argument("--features", action="append", metavar="MODALITY=FILE.npy", help="raw feature rows, table order")
    p.add_argument("--id-init", choices=["zero", "neighbours"],
                   help="the new items' item-ID rows: zero, or the mean of the 10 trained items closest in content "
                        "(docs/serving.md); default: the choice of the items added before, else zero")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_add_items)

    p = sub.add_parser("serve", help="serve a trained run over HTTP (needs gtcrec[serve])",
                       description="FastAPI + uvicorn: /health, /users/{id}/recommendations, /recommendations, "
                                   "/score, /items/{id}/similar; OpenAPI docs at /docs.")
    p.add_argument("run_dir", help="run folder (lowest seed) or seed folder")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.add_argument("--max-batch", type=int, default=1000, help="most users or items per POST (default 1000)")
    p.add_argument("--api-key-env", default="GTCREC_API_KEY",
                   help="environment variable holding the API key that POST /items needs (default GTCREC_API_KEY; "
                        "unset: adding items is disabled)")
    p.add_argument("--device", default="cpu")
    g = p.add_argument_group("what the page at / shows (default: what the dataset's feature reports name)")
    g.add_argument("--items", help="items table with an id and a title column (CSV/TSV/Parquet)")
    g.add_argument("--items-id-col", help="default: the first column named item_id..., else the first column")
    g.add_argument("--title-col", help="default: the first column with 'title' in its name, else the second")
    g.add_argument("--image-dir", help="folder of pictures named by item id (123.jpg)")
    p.set_defaults(func=cmd_serve)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("stats", help="users, items, interactions, sparsity, splits, degrees")
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_stats)

    p = data.add_parser("import", help="raw interactions (+ item text and images) -> MMRec-format folder",
                        description="k-core, MMRec-rule split, id maps; then one feature file per content "
                                    "modality given (text from --items, images from --image-dir or --image-col).")
    p.add_argument("interactions", help="CSV/TSV/Parquet of (user, item[, rating, timestamp])")
    p.add_argument("--out", required=True, help="a new or empty folder (built beside it, renamed into place)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out whole")
    p.add_argument("--name")
    p.add_argument("--user-col", default="user_id")
    p.add_argument("--item-col", default="item_id")
    p.add_argument("--rating-col")
    p.add_argument("--timestamp-col")
    p.add_argument("--min-rating", type=float)
    p.add_argument("--kcore", type=int, default=5)
    p.add_argument("--seed", type=int, default=999)
    p.add_argument("--sep", help="field separator (default: from the suffix)")
    g = p.add_argument_group("content")
    g.add_argument("--items", help="items table: id column, text columns, optional image-path column")
    g.add_argument("--items-id-col", default="item_id")
    g.add_argument("--text-template", help='e.g. "{title}. {brand}. {categories}" (missing values are dropped)')
    g.add_argument("--text-columns", help="comma-separated columns joined MMRec-style (title,brand,categories,description)")
    g.add_argument("--text-model", help="default all-MiniLM-L6-v2 (packaged); or a local sentence-transformers folder")
    g.add_argument("--image-dir", help="folder of images named by raw item id (123.jpg)")
    g.add_argument("--image-col", help="column of the items table with image paths")
    g.add_argument("--image-root", help="folder the image paths are relative to (default: the items table's)")
    g.add_argument("--image-backbone", default="efficientnet-lite0", help="efficientnet-lite0 or torchvision:<name>")
    g.add_argument("--image-weights", help="weights file for a torchvision backbone")
    g.add_argument("--image-resize", choices=["crop", "squash"], default="crop")
    g.add_argument("--fill", choices=["mean", "zeros"], default="mean", help="row for items without content")
    g.add_argument("--device", default="cpu")
    g.add_argument("--workers", type=int, default=0, help="image decoding processes")
    g.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_data_import)

    p = data.add_parser("build", help="build a built-in dataset into the cache and print its folder")
    p.add_argument("name", choices=["ml-100k", "ml-100k-mm"])
    p.set_defaults(func=cmd_data_build)

    p = data.add_parser("synthetic", help="write the planted multimodal synthetic dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="synthetic")
    p.add_argument("--users", type=int, default=600)
    p.add_argument("--items", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_data_synthetic)

    features = sub.add_parser("features", help="encode item content into <modality>_feat.npy of a dataset folder")
    fsub = features.add_subparsers(dest="features_command", required=True)
    p = fsub.add_parser("text", help="sentence-transformers text embeddings (offline)")
    p.add_argument("--dataset", required=True, help="dataset folder (its i_id_mapping.csv aligns the items)")
    p.add_argument("--items", required=True, help="items table (CSV/TSV/Parquet)")
    p.add_argument("--id-col", default="item_id")
    p.add_argument("--template", help='e.g. "{title}. {genres}" (missing values are dropped)')
    p.add_argument("--columns", help="comma-separated columns joined MMRec-style")
    p.add_argument("--model", help="default all-MiniLM-L6-v2 (packaged); or a local sentence-transformers folder")
    p.add_argument("--modality", default="text")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fill", choices=["mean", "zeros"], default="mean")
    p.add_argument("--sep")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_features_text)

    p = fsub.add_parser("image", help="pooled CNN image embeddings (offline)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--image-dir", help="folder of images named by raw item id (123.jpg)")
    p.add_argument("--items", help="items table with an image-path column")
    p.add_argument("--id-col", default="item_id")
    p.add_argument("--image-col")
    p.add_argument("--image-root")
    p.add_argument("--backbone", default="efficientnet-lite0", help="efficientnet-lite0 or torchvision:<name>")
    p.add_argument("--weights", help="weights file (state dict) for a torchvision backbone")
    p.add_argument("--resize", choices=["crop", "squash"], default="crop")
    p.add_argument("--modality", default="image")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fill", choices=["mean", "zeros"], default="mean")
    p.add_argument("--sep")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_features_image)
    _fill_help(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "argv"):
        args.argv = argv  # the exact command, recorded in benchmark tables
    _setup_logging(args.verbose)
    original_format = warnings.formatwarning
    if not args.verbose:  # our data warnings are one line naming what they are about, not a source line
        def one_line(message, category, filename, lineno, line=None):
            if issubclass(category, DataWarning):
                return f"gtcrec: warning: {message}"
            return original_format(message, category, filename, lineno, line)

        warnings.formatwarning = one_line
    try:
        return args.func(args)
    except UserError as exc:  # the user's input was wrong: one line, exit code 2
        if args.verbose:
            traceback.print_exc()
        print(f"gtcrec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gtcrec: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 -- a bug in gtcrec, not a user mistake: show it all, ask for a report
        traceback.print_exc()
        print("gtcrec: internal error: this is a bug in gtcrec, not in your input; please report it with the "
              "command and the traceback above", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = original_format


if __name__ == "__main__":
    sys.exit(main())
