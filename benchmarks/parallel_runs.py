"""Run the trainings of several `gtcrec grid` / `gtcrec bench` commands at once, one seed per worker process.

For a machine with many cores or one GPU that small models leave mostly idle (issue 17's grids on an H200: a
GTC epoch on ML-100K-MM is launch-bound). `gtcrec grid` and `gtcrec bench` train one seed after another; here
each (point or model, seed) is a job. A job trains in a staging folder of its own (a run folder is locked by
the process that trains it) and its finished seed folder is then moved where the command itself would have
put it. A grid's final seeds are queued as soon as its last point finishes, ahead of everything else. When
every job of a command is done, the command itself runs in this process: it finds every seed finished, reads
them back and writes its report (grid.md, grid.json, best.yaml / bench.md, bench.json) as it always does.
Re-running the same command here later gives the same result, so does re-running this script: finished seeds
are skipped.

    python benchmarks/parallel_runs.py --jobs 14 --deadline-s 480 \
        -- "grid --model gtc --dataset ml-100k-mm --seeds 1 --final-seeds 2..6 ..." "bench --models bm3 ..."

At the deadline the running jobs are stopped (their staging folders are deleted); what finished stays.
Each worker uses one torch thread (`train.num_threads`, as given in the commands) and `train.device` as given
(auto: the GPU where there is one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing
import os
import shlex
import shutil
import signal
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from gtcrec.cli import _protocol_overrides, build_parser
from gtcrec.config import RunConfig
from gtcrec.train.bench import entry_config, parse_entries, parse_seeds, run_bench
from gtcrec.train.grid import GridPoint, grid_points, parse_axis, run_grid

_DATA: dict[str, object] = {}


def _train_one(config: RunConfig, staging: str) -> str:
    """Worker: train one seed of ``config`` in ``staging``; the data is loaded once per worker."""
    from gtcrec.data import load_dataset
    from gtcrec.train.bench import train_in_folder

    # each seed's train.log takes the epochs (INFO), as under the CLI; nothing more reaches the shared stderr
    logging.getLogger("gtcrec").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")  # torch's beta-status notes, as the CLI does
    if config.data.dataset not in _DATA:
        _DATA[config.data.dataset] = load_dataset(config.data.dataset)
    staging_dir = Path(staging)
    config = dataclasses.replace(config, output_dir=str(staging_dir.parent), name=staging_dir.name)
    train_in_folder(config, staging_dir, _DATA[config.data.dataset])
    return staging


@dataclass
class Job:
    config: RunConfig
    seed: int
    target: Path  # the run folder the seed belongs in
    command: Command
    all_seeds: list[int]  # the command's seeds for this folder
    final: bool = False

    @property
    def done(self) -> bool:
        return (self.target / f"seed{self.seed}" / "metrics.json").exists()


@dataclass
class Command:
    text: str
    args: argparse.Namespace
    jobs: list[Job] = field(default_factory=list)
    finals_queued: bool = False
    reported: bool = False


def _single_seed(config: RunConfig, seed: int) -> RunConfig:
    return dataclasses.replace(config, seeds=[seed])


def plan(command: Command) -> list[Job]:
    """The jobs a command needs (finished seeds skipped); a grid's finals come later (:func:`final_jobs`)."""
    a = command.args
    overrides = _protocol_overrides(a)
    if a.command == "grid":
        out = Path(a.output_dir)
        jobs = []
        for point in grid_points([parse_axis(t) for t in a.grid]):
            config = entry_config(a.model, a.dataset, parse_seeds(a.seeds), out / "points", overrides + point.overrides)
            config.name = point.label
            jobs += [Job(_single_seed(config, s), s, out / "points" / point.label, command, config.seeds)
                     for s in config.seeds]
        return jobs
    out = Path(a.output_dir)
    seeds = parse_seeds(a.seeds)
    return [Job(_single_seed(entry_config(e, a.dataset, seeds, out, overrides), s), s, out / e, command, seeds)
            for e in parse_entries(a.models) for s in seeds]


def chosen_point(command: Command) -> GridPoint:
    """The grid's choice on validation, made by `gtcrec grid` itself (every point is read back, none trains)."""
    a = command.args
    report = run_grid(a.model, a.dataset, [parse_axis(t) for t in a.grid], seeds=parse_seeds(a.seeds),
                      output_dir=a.output_dir, overrides=_protocol_overrides(a), command="gtcrec " + command.text)
    return report.chosen


def final_jobs(command: Command) -> list[Job]:
    a = command.args
    chosen = chosen_point(command)
    overrides = _protocol_overrides(a) + chosen.overrides
    root = Path(a.output_dir) / "points"
    if a.final_patience is not None:
        root = Path(a.output_dir) / f"final-patience-{a.final_patience}"
        overrides = overrides + [{"train": {"patience": a.final_patience}}]
    config = entry_config(a.model, a.dataset, parse_seeds(a.final_seeds), root, overrides)
    config.name = chosen.label
    return [Job(_single_seed(config, s), s, root / chosen.label, command, config.seeds, final=True)
            for s in config.seeds]


def report(command: Command) -> None:
    """The command itself, in this process: every seed is read back, the report written."""
    a = command.args
    if a.command == "grid":
        run_grid(a.model, a.dataset, [parse_axis(t) for t in a.grid], seeds=parse_seeds(a.seeds),
                 final_seeds=parse_seeds(a.final_seeds) if a.final_seeds else None, output_dir=a.output_dir,
                 final_patience=a.final_patience, overrides=_protocol_overrides(a), command="gtcrec " + command.text)
    else:
        run_bench(parse_entries(a.models), a.dataset, parse_seeds(a.seeds), output_dir=a.output_dir,
                  overrides=_protocol_overrides(a), command="gtcrec " + command.text)
    command.reported = True


def merge(job: Job, staging: Path) -> None:
    """Move a finished seed from its staging folder into its run folder, as `gtcrec grid/bench` would lay it out."""
    source, dest = staging / f"seed{job.seed}", job.target / f"seed{job.seed}"
    metrics_path = source / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["run_dir"] = str(dest)
    if not metrics.get("git_commit") and os.environ.get("GTCREC_COMMIT"):  # no .git where the checkout was copied
        metrics["git_commit"] = os.environ["GTCREC_COMMIT"]
    metrics_path.write_text(json.dumps(metrics, indent=2))
    # the seed's own copy of its config, as the command would have written it (all its seeds, its folder)
    whole = dataclasses.replace(job.config, seeds=job.all_seeds, output_dir=str(job.target.parent),
                                name=job.target.name)
    (source / "config.yaml").write_text(whole.to_yaml())
    job.target.mkdir(parents=True, exist_ok=True)
    if not (job.target / "config.yaml").exists():  # seeds and folder differ; the command's read-back rewrites it
        shutil.copy2(staging / "config.yaml", job.target / "config.yaml")
    if dest.exists():
        shutil.rmtree(dest)  # an unfinished seed left by an interrupted run of the command itself
    shutil.move(str(source), str(dest))
    shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--deadline-s", type=float, default=None, help="stop running jobs after this many seconds")
    p.add_argument("--staging", default="runs/.parallel-staging")
    p.add_argument("commands", nargs="+", help="gtcrec grid/bench command lines, without 'gtcrec'")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: stop the workers, clean up (below)
    start = time.monotonic()
    parser = build_parser()
    commands = []
    for text in args.commands:
        parsed = parser.parse_args(shlex.split(text))
        if parsed.command not in ("grid", "bench"):
            p.error(f"{text!r}: expected a grid or bench command")
        parsed.output_dir = parsed.output_dir or f"runs/{parsed.command}-{Path(parsed.dataset).name}"
        commands.append(Command(text, parsed))
    pending = [job for c in commands for job in plan(c) if not job.done]
    staging_root = Path(args.staging)
    running: dict[Future, tuple[Job, Path]] = {}
    failed = 0
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    executor = ProcessPoolExecutor(max_workers=args.jobs, mp_context=context)
    n_started = 0

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - start:6.0f} s] {message}", flush=True)

    def advance() -> None:
        """Queue finals of grids whose points are all done; report commands whose jobs are all done."""
        for c in commands:
            if any(not j.done for j in plan(c)):
                continue
            if c.args.command == "grid" and c.args.final_seeds and not c.finals_queued:
                c.finals_queued = True
                finals = [j for j in final_jobs(c) if not j.done]
                pending[:0] = finals  # ahead of everything: they end the grid
                progress(f"{c.args.model}: {len(finals)} final seeds queued")
            if not c.reported and (c.args.command == "bench" or c.finals_queued or not c.args.final_seeds) \
                    and not any(j.command is c for j in pending) \
                    and not any(j.command is c for j, _ in running.values()):
                report(c)
                progress(f"reported: {c.text}")

    advance()
    try:
        while pending or running:
            if args.deadline_s is not None and time.monotonic() - start > args.deadline_s:
                progress(f"deadline: {len(running)} running and {len(pending)} waiting jobs left undone")
                break
            while pending and len(running) < args.jobs:
                job = pending.pop(0)
                n_started += 1
                staging = staging_root / f"job{n_started}-seed{job.seed}"
                shutil.rmtree(staging, ignore_errors=True)
                running[executor.submit(_train_one, job.config, str(staging))] = (job, staging)
            finished, _ = wait(running, timeout=5, return_when=FIRST_COMPLETED)
            for future in finished:
                job, staging = running.pop(future)
                name = f"{job.target} seed {job.seed}"
                try:
                    future.result()
                    merge(job, staging)
                    progress(f"done: {name}")
                except Exception as exc:  # noqa: BLE001 - one failed job does not stop the others
                    failed += 1
                    progress(f"FAILED: {name}: {exc!r}")
                    shutil.rmtree(staging, ignore_errors=True)
            if finished:
                advance()
    finally:
        for process in list(getattr(executor, "_processes", {}).values()):  # stop running jobs at once
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(staging_root, ignore_errors=True)
    undone = [c.text for c in commands if not c.reported]
    progress(f"{failed} failed; not complete: {undone or 'none'}")
    return 1 if failed or undone else 0


if __name__ == "__main__":
    sys.exit(main())
