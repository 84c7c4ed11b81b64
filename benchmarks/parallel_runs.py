"""Run the trainings of several `gtcrec grid` / `gtcrec bench` commands at once, one seed per worker process.

For a machine with many cores or one GPU that small models leave mostly idle (issue 17's grids on an H200: a
GTC epoch on ML-100K-MM is launch-bound). `gtcrec grid` and `gtcrec bench` train one seed after another; here
each (point or model, seed) is a job. A job trains in a staging folder of its own (a run folder is locked by
the process that trains it) and its finished seed folder is then moved, under the run folder's lock, where the
command itself puts it. A grid's final seeds are queued as soon as its choice is known, ahead of everything
else. When every job of a command is done, the command itself runs in this process: it finds every seed
finished, reads them back and writes its report (grid.md, grid.json, best.yaml / bench.md, bench.json) as it
always does. Re-running the same command later gives the same result, so does re-running this script:
finished seeds are skipped. A run folder that holds another configuration is refused before anything trains.

    python benchmarks/parallel_runs.py --jobs 14 --deadline-s 480 --choices-dir runs/.choices \
        "grid --model gtc --dataset ml-100k-mm --seeds 1 --final-seeds 2..6 ... --output-dir D" "bench ... --output-dir E"

Every command needs --output-dir. At the deadline the running jobs are killed (their staging folders
deleted); no job starts later than --last-start-s. What finished stays. Each worker uses `train.num_threads`
and `train.device` as the commands give them (auto: the GPU where there is one). With --choices-dir, each
grid's choice is written there (`<output-dir with / as _>.json`: its settings and the --set options that give
it), for scripts that chain runs after a grid (benchmarks/gpu_grids.sh).
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
import tempfile
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from gtcrec.cli import _protocol_overrides, build_parser
from gtcrec.config import RunConfig
from gtcrec.data.dataset import InteractionData
from gtcrec.errors import UserError
from gtcrec.train.bench import (
    check_run_folder,
    entry_config,
    parse_entries,
    parse_seeds,
    run_bench,
)
from gtcrec.train.checkpoint import atomic_write_json
from gtcrec.train.grid import (
    GridPoint,
    choose_point,
    final_config,
    grid_points,
    parse_axis,
    point_config,
    point_folder,
    run_grid,
)
from gtcrec.train.results import RunResult
from gtcrec.train.run import RunLock, read_seed_result, saved_config_path

_DATA: dict[str, InteractionData] = {}  # per worker process: each dataset is read once


def _train_one(config: RunConfig, staging: str) -> str:
    """Worker: train one seed of ``config`` in the run folder ``staging``."""
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
    config: RunConfig  # the command's config for this folder, with this seed alone
    seed: int
    target: Path  # the run folder the seed belongs in
    all_seeds: list[int]  # the command's seeds for that folder
    command: Command

    @property
    def done(self) -> bool:
        return (self.target / f"seed{self.seed}" / "metrics.json").exists()


@dataclass
class Command:
    text: str
    args: argparse.Namespace
    selection: list[Job] = field(default_factory=list)  # grid points, or a bench's seeds
    finals: list[Job] | None = None  # a grid's final seeds, once its choice is known
    failed: bool = False
    reported: bool = False

    @property
    def line(self) -> str:
        """As `gtcrec` records its own command line."""
        return "gtcrec " + shlex.join(shlex.split(self.text))

    @property
    def wants_finals(self) -> bool:
        return self.args.command == "grid" and bool(self.args.final_seeds)

    def jobs(self) -> list[Job]:
        return self.selection + (self.finals or [])


def _job(config: RunConfig, seed: int, target: Path, command: Command) -> Job:
    return Job(dataclasses.replace(config, seeds=[seed]), seed, target, list(config.seeds), command)


def plan(command: Command) -> list[Job]:
    """The command's selection jobs (grid points, bench seeds), finished ones included."""
    a = command.args
    out, overrides, seeds = Path(a.output_dir), _protocol_overrides(a), parse_seeds(a.seeds)
    if a.command == "grid":
        targets = [(point_config(a.model, a.dataset, seeds, out, overrides, p), point_folder(out, p))
                   for p in grid_points([parse_axis(t) for t in a.grid])]
    else:
        targets = [(entry_config(e, a.dataset, seeds, out, overrides), out / e) for e in parse_entries(a.models)]
    jobs = []
    for config, folder in targets:
        check_run_folder(folder, config)  # before anything trains
        jobs += [_job(config, s, folder, command) for s in config.seeds]
    return jobs


def chosen_point(command: Command) -> GridPoint:
    """The grid's choice on validation, by `gtcrec grid`'s own rule, from the finished points (nothing written)."""
    a = command.args
    points = grid_points([parse_axis(t) for t in a.grid])
    for point in points:
        folder = point_folder(Path(a.output_dir), point)
        point.result = RunResult(a.model, a.dataset, [read_seed_result(folder / f"seed{s}" / "metrics.json")
                                                     for s in parse_seeds(a.seeds)])
    return choose_point(points, command.selection[0].config.train.valid_metric)


def final_jobs(command: Command, chosen: GridPoint) -> list[Job]:
    a = command.args
    config = final_config(a.model, a.dataset, parse_seeds(a.final_seeds), Path(a.output_dir), _protocol_overrides(a),
                          chosen, a.final_patience)
    folder = Path(config.output_dir) / chosen.label
    check_run_folder(folder, config)
    return [_job(config, s, folder, command) for s in config.seeds]


def write_choice(command: Command, chosen: GridPoint, folder: Path) -> None:
    """The choice, and the --set options that give it (the command's own first), for scripts that chain on it."""
    sets = list(command.args.set or [])
    sets += [f"{axis.key}={chosen.settings[name]}"
             for axis, name in zip([parse_axis(t) for t in command.args.grid], chosen.settings)]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / (command.args.output_dir.strip("/").replace("/", "_") + ".json"),
                      {"command": command.line, "chosen": chosen.settings, "sets": sets})


def report(command: Command) -> None:
    """The command itself, in this process: every seed is read back, the report written."""
    a = command.args
    if a.command == "grid":
        run_grid(a.model, a.dataset, [parse_axis(t) for t in a.grid], seeds=parse_seeds(a.seeds),
                 final_seeds=parse_seeds(a.final_seeds) if a.final_seeds else None, output_dir=a.output_dir,
                 final_patience=a.final_patience, overrides=_protocol_overrides(a), command=command.line)
    else:
        run_bench(parse_entries(a.models), a.dataset, parse_seeds(a.seeds), output_dir=a.output_dir,
                  overrides=_protocol_overrides(a), command=command.line)
    command.reported = True


def merge(job: Job, staging: Path) -> None:
    """Move a finished seed from its staging folder into its run folder, laid out as the command lays it out."""
    source, dest = staging / f"seed{job.seed}", job.target / f"seed{job.seed}"
    metrics = json.loads((source / "metrics.json").read_text())
    metrics["run_dir"] = str(dest)
    commit = os.environ.get("GTCREC_COMMIT")  # a copied checkout's git can name another commit than the code's
    if commit and commit != metrics.get("git_commit"):
        metrics["git_commit_of_checkout"], metrics["git_commit"] = metrics.get("git_commit"), commit
    atomic_write_json(source / "metrics.json", metrics)
    # the config as the command writes it: all the folder's seeds, the folder's place and name
    whole = dataclasses.replace(job.config, seeds=job.all_seeds, output_dir=str(job.target.parent),
                                name=job.target.name).to_yaml()
    (source / "config.yaml").write_text(whole)
    job.target.mkdir(parents=True, exist_ok=True)
    lock = RunLock(job.target)  # ConfigError while a `gtcrec` process trains there: the staging copy stays
    try:
        if not saved_config_path(job.target).exists():  # the command's read-back rewrites it
            (job.target / "config.yaml").write_text(whole)
        if dest.exists():
            shutil.rmtree(dest)  # an unfinished seed left by an interrupted run of the command itself
        shutil.move(str(source), str(dest))
    finally:
        lock.release()
    shutil.rmtree(staging, ignore_errors=True)


class Runner:
    """The job queue: at most ``jobs`` workers; a grid's finals go first; each command is reported when done."""

    def __init__(self, commands: list[Command], jobs: int, staging_root: Path, choices_dir: Path | None):
        self.commands, self.jobs, self.staging_root, self.choices_dir = commands, jobs, staging_root, choices_dir
        self.pending = [job for c in commands for job in c.selection if not job.done]
        self.running: dict[Future, tuple[Job, Path]] = {}
        self.failures = 0
        self.start = time.monotonic()
        self.executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"))

    def progress(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.0f} s] {message}", flush=True)

    def fail(self, command: Command, what: str) -> None:
        self.failures += 1
        command.failed = True
        self.progress(f"FAILED: {what}")

    def advance(self) -> None:
        """Queue the finals of grids whose points are done; report commands whose jobs are all done."""
        for c in self.commands:
            if c.failed or c.reported or any(not j.done for j in c.selection):
                continue
            try:
                if c.wants_finals and c.finals is None:
                    chosen = chosen_point(c)
                    if self.choices_dir is not None:
                        write_choice(c, chosen, self.choices_dir)
                    c.finals = final_jobs(c, chosen)
                    todo = [j for j in c.finals if not j.done]
                    self.pending[:0] = todo  # ahead of everything: they end the grid
                    self.progress(f"{c.args.output_dir}: chose {chosen.label}; {len(todo)} final seeds queued")
                if all(j.done for j in c.jobs()):
                    report(c)
                    self.progress(f"reported: {c.args.output_dir}")
            except UserError as exc:  # this command only: the others go on
                self.fail(c, f"{c.args.output_dir}: {exc}")

    def submit(self, job: Job) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f"seed{job.seed}-", dir=self.staging_root))
        try:
            future = self.executor.submit(_train_one, job.config, str(staging))
        except BrokenProcessPool:  # a worker died (killed, out of memory): the pool is gone, start another
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._new_executor()
            future = self.executor.submit(_train_one, job.config, str(staging))
        self.running[future] = (job, staging)

    def collect(self, future: Future) -> None:
        job, staging = self.running.pop(future)
        name = f"{job.target} seed {job.seed}"
        try:
            future.result()
            merge(job, staging)
            self.progress(f"done: {name}")
        except Exception as exc:  # noqa: BLE001 - one failed job fails its command, not the others
            self.fail(job.command, f"{name}: {exc!r}")
            shutil.rmtree(staging, ignore_errors=True)

    def run(self, deadline_s: float | None, last_start_s: float | None) -> None:
        self.advance()
        while self.pending or self.running:
            elapsed = time.monotonic() - self.start
            if deadline_s is not None and elapsed > deadline_s:
                self.progress(f"deadline: {len(self.running)} running and {len(self.pending)} waiting jobs undone")
                return
            may_start = last_start_s is None or elapsed < last_start_s
            while may_start and self.pending and len(self.running) < self.jobs:
                job = self.pending.pop(0)
                if not job.command.failed and not job.done:  # done meanwhile: by another process, say
                    self.submit(job)
            if not self.running:
                return  # nothing left that may start
            finished, _ = wait(self.running, timeout=5, return_when=FIRST_COMPLETED)
            for future in finished:
                self.collect(future)
            if finished:
                self.advance()

    def close(self) -> None:
        """Kill the workers still training (their staging folders go with this run's staging root)."""
        processes = getattr(self.executor, "_processes", None) or {}  # the pool keeps no public list
        for process in list(processes.values()):
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--deadline-s", type=float, help="kill the jobs still running after this many seconds")
    p.add_argument("--last-start-s", type=float, help="start no job after this many seconds")
    p.add_argument("--staging", default="runs/.parallel-staging", help="parent of this run's staging folder")
    p.add_argument("--choices-dir", type=Path, help="write each grid's choice here")
    p.add_argument("commands", nargs="+", help="gtcrec grid/bench command lines, without 'gtcrec'")
    args = p.parse_args(argv)
    parser = build_parser()
    commands = []
    for text in args.commands:
        parsed = parser.parse_args(shlex.split(text))
        if parsed.command not in ("grid", "bench") or not parsed.output_dir:
            p.error(f"{text!r}: expected a grid or bench command with --output-dir")
        commands.append(Command(text, parsed))
    try:
        for c in commands:
            c.selection = plan(c)  # every folder checked before anything trains
    except UserError as exc:
        print(f"parallel_runs: error: {exc}", file=sys.stderr)
        return 2
    Path(args.staging).mkdir(parents=True, exist_ok=True)
    staging_root = Path(tempfile.mkdtemp(prefix="run-", dir=args.staging))  # this run's alone
    runner = Runner(commands, args.jobs, staging_root, args.choices_dir)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: still stop the workers
    try:
        runner.run(args.deadline_s, args.last_start_s)
    finally:
        runner.close()
        shutil.rmtree(staging_root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    undone = [c.args.output_dir for c in commands if not c.reported]
    runner.progress(f"{runner.failures} failed; not complete: {undone or 'none'}")
    return 1 if runner.failures or undone else 0


if __name__ == "__main__":
    sys.exit(main())
