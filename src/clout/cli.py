"""The `clout` command line. Thin: each command parses options, calls the package, prints."""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import sys
import threading
import time
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clout.data.dataset import read_dataset, read_ground_truth, write_dataset
from clout.data.loaders import LOADERS
from clout.data.schema import TABLES, schema_frame
from clout.data.simulator import PRESETS, preset, write_simulation
from clout.errors import CloutError, MissingFile, NotFound
from clout.features.config import CutoffSpec, FeatureConfig
from clout.files import replacing_file

# MLflow draws a progress bar per artifact download: a command's last lines are its own answer
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # not its database set-up chatter


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds: an open MLflow run ends FAILED, temp files go


class Commands(typer.Typer):
    """A typer app whose commands print a user's error (`CloutError`) in one line and exit 2;
    anything else is a bug and keeps its traceback. SIGTERM (a scheduler stopping the job)
    ends a command as SIGINT does, by unwinding it."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(function):
            @functools.wraps(function)
            def guarded(*call_args, **call_kwargs):
                signal.signal(signal.SIGTERM, _exit_on_sigterm)
                say.begin()
                try:
                    return function(*call_args, **call_kwargs)
                except CloutError as err:
                    fail(str(err), 2)
                finally:
                    say.end()
            return register(guarded)
        return decorator


FEATURE_DEFAULTS = FeatureConfig()  # the CLI's defaults are the experiment's


def _invocation() -> str:
    """How the next commands are to be typed: as this one was started (`.venv/bin/clout` from
    make, after which `clout` is not on PATH), or `clout` when that finds the same program."""
    started = Path(sys.argv[0])
    if started.name != "clout" or shutil.which("clout") == str(started.absolute()):
        return "clout"
    relative = os.path.relpath(started.absolute())
    return relative if not relative.startswith("..") else str(started)


CLI = _invocation()

app = Commands(help="clout: an open, calibrated, explainable 1-100 influence score.",
               no_args_is_help=True, pretty_exceptions_enable=False)
data_app = Commands(help="The data contract: schema, validation, loaders, summaries.",
                    no_args_is_help=True)
features_app = Commands(help="Point-in-time features and labels per (account, cutoff).",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
release_app = Commands(help="Guarded score releases: publish, list, roll back.",
                       no_args_is_help=True)
app.add_typer(release_app, name="release")
cache_app = Commands(help="The cache of validated data and features (data/interim/cache).",
                     no_args_is_help=True)
app.add_typer(cache_app, name="cache")
keys_app = Commands(help="API keys of the services (clout serve, clout release serve).",
                    no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# A log (not a terminal) is 100 columns wide: tables wrap their cells to fit.
console = Console(width=None if sys.stdout.isatty() else 100)

PresetName = Enum("PresetName", {name: name for name in PRESETS}, type=str)
Source = Enum("Source", {name: name for name in LOADERS}, type=str)


class OnBadRows(StrEnum):
    error = "error"
    quarantine = "quarantine"


def _cell(value, decimals: int = 3) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN prints empty
            return ""
        text = f"{value:,.{decimals}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no -0
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _decimals(column: pd.Series) -> int:
    """The fewest decimals (at most 3) that show every value of a float column as it is:
    counts print as 13,910, minutes as 3.2, rates as 0.969."""
    values = column.dropna().to_numpy(float)
    values = values[np.abs(values) < 1e15]
    for decimals in range(3):
        if np.allclose(values, np.round(values, decimals), rtol=0, atol=1e-9):
            return decimals
    return 3


def _fitted(cells: list[int], headers: list[int], names: list[bool], room: int) -> list[dict]:
    """Rich column settings for a table of columns whose widest cells are `cells` wide, to fit
    `room` characters. Names (features, heads: at most 40 wide) stay whole when they fit, so
    they can be read and searched; numbers too when there is room, and the room left widens
    their headers, which wrap. Whatever does not fit wraps."""
    widths = [min(max(c, h), 40) if n else max(c, 4)  # a name column is as wide as its header
              for c, h, n in zip(cells, headers, names, strict=True)]
    borders = 3 * len(widths) + 1
    slack = room - borders - sum(widths)
    names_whole = borders + sum(w if n else 3 for w, n in zip(widths, names, strict=True)) <= room
    for i in sorted(range(len(widths)), key=lambda i: headers[i] - widths[i]):
        if not names[i] and slack > 0 and headers[i] > widths[i]:
            grown = min(headers[i] - widths[i], slack)
            widths[i], slack = widths[i] + grown, slack - grown
    return [({"min_width": w} if names_whole else {}) if n else ({"width": w} if slack >= 0
                                                                 else {})
            for w, n in zip(widths, names, strict=True)]


def print_frame(frame: pd.DataFrame, title: str | None = None) -> None:
    """`frame` as a table that fits the console (`_fitted`), each float column with the
    decimals its values need."""
    decimals = {c: _decimals(frame[c]) if pd.api.types.is_float_dtype(frame[c]) else 3
                for c in frame.columns}
    rows = [[_cell(v, decimals[c]) for c, v in zip(frame.columns, row, strict=True)]
            for row in frame.astype(object).itertuples(index=False)]
    names = [frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
             for c in frame.columns]
    cells = [max([1, *(len(r[i]) for r in rows)]) for i in range(len(frame.columns))]
    headers = [len(str(c)) for c in frame.columns]
    table = Table(title=title, title_justify="left")
    settings = _fitted(cells, headers, names, console.width) if rows else [{}] * len(cells)
    for col, fixed in zip(frame.columns, settings, strict=True):
        table.add_column(str(col), overflow="fold", **fixed)
    for row in rows:
        table.add_row(*row)
    console.print(table)


class Stages:
    """The pipeline's `say`: each stage it reports is a dimmed line with the seconds since the
    command started. While a stage runs nothing is silent for long: a terminal shows a spinner
    with the stage's elapsed time, a log gets a line every `HEARTBEAT` seconds. Every command
    runs between `begin` and `end` (`Commands`)."""

    HEARTBEAT = 5.0

    def __init__(self):
        self.begin()

    def begin(self) -> None:
        self.started = self.since = time.monotonic()
        self.stage = ""
        self._done = threading.Event()
        self._watch: threading.Thread | None = None

    def end(self) -> None:
        self._done.set()
        if self._watch is not None:
            self._watch.join()

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        console.print(f"[dim]{now - self.started:6.1f} s  {text}[/]")
        self.stage, self.since = text, now
        if self._watch is None:  # the first stage starts the watch
            self._watch = threading.Thread(target=self._keep_company, daemon=True)
            self._watch.start()

    def _keep_company(self) -> None:
        if console.is_terminal:
            with console.status("", spinner="dots") as status:
                while not self._done.wait(0.5):
                    status.update(f"[dim]{self.stage} ({time.monotonic() - self.since:.0f} s)")
            return
        last = self.since
        while not self._done.wait(self.HEARTBEAT / 8):
            now = time.monotonic()
            if now - max(self.since, last) >= self.HEARTBEAT:
                console.print(f"[dim]{now - self.started:6.1f} s  ... {self.stage} "
                              f"({now - self.since:.0f} s)[/]")
                last = now


say = Stages()
# the first line of a long command: importing its libraries takes seconds on a cold start
LOADING = "loading the pipeline: MLflow, LightGBM, Polars"


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Directory to write the dataset to.")] =
        Path("data/raw/simulated"),
    preset_name: Annotated[PresetName, typer.Option("--preset", help="Size of the world.")] =
        "default",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same dataset.")] = 7,
    accounts: Annotated[int | None, typer.Option(help="Override: genuine accounts.")] = None,
    days: Annotated[int | None, typer.Option(help="Override: days in the window.")] = None,
) -> None:
    """Simulate a social network and write it in the data contract (ground truth in truth/)."""
    overrides = {k: v for k, v in {"n_accounts": accounts, "days": days}.items() if v is not None}
    config = preset(preset_name.value, seed=seed, **overrides)
    with Progress(TextColumn("simulating {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"{config.days} days", total=None)
        summary = write_simulation(config, out,
                                   on_chunk=lambda done, total: progress.update(
                                       task, completed=done, total=total))
    console.print(f"wrote {out}: {summary.accounts:,} accounts, {summary.follows:,} follows, "
                  f"{summary.posts:,} posts, {summary.engagements:,} engagements "
                  f"(seed {seed}, preset {preset_name.value})")


@data_app.command("schema")
def data_schema(
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
) -> None:
    """Print the data contract: every table's columns with type, unit, nullability and meaning."""
    frame = schema_frame()
    if table is not None:
        if table not in TABLES:
            fail(f"unknown table {table!r}; the contract has {', '.join(TABLES)}", 2)
        frame = frame[frame["table"] == table]
    for name, columns in frame.groupby("table", sort=False):
        console.print(f"\n[bold]{name}[/] — {TABLES[name].meaning}")
        print_frame(columns.drop(columns="table"))


@data_app.command("validate")
def data_validate(
    path: Annotated[Path, typer.Argument(help="Dataset directory (one Parquet per table).")],
    on_bad_rows: Annotated[OnBadRows, typer.Option(
        help="'error' stops on any bad row; 'quarantine' sets bad rows apart and goes on.")] =
        OnBadRows.error,
    quarantine_dir: Annotated[Path, typer.Option(help="Where quarantined rows go.")] =
        Path("data/quarantine"),
    output: Annotated[Path | None, typer.Option(
        help="Write the good rows here as a clean dataset.")] = None,
) -> None:
    """Check a dataset against the contract; each failure names table, column, rule and rows."""
    from clout.data.validation import DataValidationError, validate, write_quarantine

    try:
        clean, report = validate(read_dataset(path), on_bad_rows=on_bad_rows.value)
    except DataValidationError as err:
        print_frame(err.report.failures_frame(), title=f"{path} breaks the data contract")
        fail(f"{len(err.report.failures)} failures; bad rows can be set apart with "
             "--on-bad-rows quarantine" if not err.report.schema_failures else
             f"{len(err.report.failures)} failures, some of whole columns: fix the source")
    if not report.ok:
        print_frame(report.failures_frame(), title="failures (rows quarantined)")
    for written in write_quarantine(report, quarantine_dir):
        console.print(f"quarantined rows written to {written}")
    print_frame(report.counts(), title=f"{path}: rows per table")
    if output is not None:
        write_dataset(clean, output)
        console.print(f"clean dataset written to {output}")
    quarantined = sum(len(rows) for rows in report.quarantine.values())
    console.print("[green]valid[/]" if report.ok
                  else f"[yellow]{quarantined:,} rows quarantined[/]")


@data_app.command("load")
def data_load(
    source: Annotated[Source, typer.Argument(help="Which public dataset.")],
    path: Annotated[Path | None, typer.Option(
        help="Folder of the raw files (default: ../shared/data/SOURCE).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to write the contract tables (default: data/interim/SOURCE).")] = None,
) -> None:
    """Convert a public dataset into the contract, validate it, and write it as Parquet."""
    from clout.data.summary import table_summary
    from clout.data.validation import DataValidationError, validate

    path = path or Path("../shared/data") / source.value
    out = out or Path("data/interim") / source.value
    try:
        with console.status(f"loading {source.value} from {path}"):
            clean, _ = validate(LOADERS[source.value](path))
    except DataValidationError as err:
        fail(str(err))
    write_dataset(clean, out)
    print_frame(table_summary(clean), title=f"{source.value} -> {out}")


@data_app.command("summary")
def data_summary(
    path: Annotated[Path, typer.Argument(help="Dataset directory.")],
) -> None:
    """Rows, accounts and time span per table, and engagement totals per kind."""
    from clout.data.summary import engagement_summary, table_summary

    dataset = read_dataset(path)
    print_frame(table_summary(dataset), title=f"{path}")
    print_frame(engagement_summary(dataset), title="engagement by kind")
    try:
        truth = read_ground_truth(path)
    except MissingFile:  # only simulated data has a ground truth
        return
    roles = truth.groupby("role").agg(accounts=("account_id", "size"),
                                      median_true_influence=("true_influence", "median"))
    print_frame(roles.reset_index(), title="ground truth (simulated): roles")


@data_app.command("plausibility")
def data_plausibility(
    path: Annotated[Path, typer.Argument(help="A simulated dataset directory.")],
    congress: Annotated[Path, typer.Option(help="The Congress dataset folder.")] =
        Path("../shared/data/congress"),
) -> None:
    """Compare a simulated dataset's followers and retweets per post with the Congress data."""
    from clout.data.plausibility import compare as compare_to_real

    sim, truth = read_dataset(path), read_ground_truth(path)
    real = LOADERS["congress"](congress)
    window_start = sim.posts["created_at"].min().floor("D")
    table = compare_to_real(sim, truth, real, window_start)
    print_frame(table, title="simulated vs Congress")
    if not table["ok"].all():
        fail(f"{(~table['ok']).sum()} statistics outside tolerance")


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text, tz="UTC")
    except ValueError:
        raise typer.BadParameter(f"expected a date such as 2024-05-06, got {text!r}") from None


def _windows(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"expected day counts separated by commas, got {text!r}") from None


@features_app.command("build")
def features_build(
    path: Annotated[Path, typer.Argument(help="Dataset directory in the data contract.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")] =
        Path("data/processed/features.parquet"),
    weeks: Annotated[int, typer.Option(
        help="Number of weekly cutoffs (Mondays), the latest whose horizon fits the data.")] =
        CutoffSpec().weeks,
    cutoff: Annotated[list[str] | None, typer.Option(
        help="Explicit cutoff dates (UTC midnights); repeat the option. Overrides --weeks.")] =
        None,
    windows: Annotated[str, typer.Option(help="Window lengths in days.")] =
        ",".join(map(str, FEATURE_DEFAULTS.windows)),
    horizon: Annotated[int, typer.Option(help="Label horizon in days.")] =
        FEATURE_DEFAULTS.horizon_days,
    settle_days: Annotated[int, typer.Option(
        help="Count-only sources: use a post's counts once it is this many days old.")] =
        FEATURE_DEFAULTS.settle_days,
    include_leaking: Annotated[bool, typer.Option(
        help="Add features observed after the cutoff (never for honest benchmarks).")] = False,
) -> None:
    """Build the feature table: one row per (account, cutoff), features then labels."""
    from clout.features.build import build_features, load_tables, write_features
    from clout.features.days import weekly_cutoffs

    try:
        config = FeatureConfig(windows=_windows(windows), horizon_days=horizon,
                               settle_days=settle_days, include_leaking=include_leaking)
    except ValidationError as err:
        raise typer.BadParameter("; ".join(e["msg"] for e in err.errors())) from None
    explicit = [_date(c) for c in cutoff or ()]
    with console.status(f"reading {path}"):
        tables = load_tables(path)
    cutoffs = explicit or weekly_cutoffs(tables, weeks, config.horizon_days)
    with Progress(TextColumn("features"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("cutoffs", total=len(cutoffs))
        frame = build_features(tables, cutoffs, config, progress=lambda done, total:
                               progress.update(task, completed=done))
    write_features(frame, out)
    if tables.follows_without_time:
        console.print(f"[yellow]{tables.follows_without_time:,} follows without a time were "
                      "left out of the follower graph[/]")
    console.print(f"wrote {out}: {len(frame):,} rows ({frame['cutoff'].nunique()} cutoffs, "
                  f"{frame['cutoff'].min():%Y-%m-%d} to {frame['cutoff'].max():%Y-%m-%d}), "
                  f"{frame.shape[1] - 2} columns")


@features_app.command("catalogue")
def features_catalogue(
    write: Annotated[Path | None, typer.Option(
        help="Also write the catalogue as Markdown here (e.g. docs/features.md).")] = None,
) -> None:
    """Print every feature with its family, unit, needs and definition."""
    from clout.features.catalogue import catalogue_frame, write_markdown

    print_frame(catalogue_frame().drop(columns="example"), title="feature catalogue")
    if write is not None:
        console.print(f"wrote {write_markdown(write)}")


# -- models: train and score ---------------------------------------------------------------
# The model stack (LightGBM, MLflow) is imported inside these commands, so that the data and
# feature commands start quickly.

def _existing(path: Path) -> Path:
    """A missing experiment file is said while the arguments are read, before a command
    imports what it needs (seconds)."""
    if not path.is_file():
        fail(f"experiment file {path} not found", 2)
    return path


ExperimentFile = Annotated[Path, typer.Argument(
    help="Experiment YAML, e.g. experiments/default.yaml.", callback=_existing)]
DataPath = Annotated[Path | None, typer.Option(
    help="Override the experiment's data.path (real data or a dataset directory).")]
NoCache = Annotated[bool, typer.Option(
    "--no-cache", help="Build the validated data and the features again instead of reading "
                       "them from the cache (data/interim/cache); the new ones replace the old.")]
TrackingUri = Annotated[str | None, typer.Option(
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else mlflow.db at the project "
         "root).")]
ReleaseDir = Annotated[Path | None, typer.Option(
    "--dir", help="Release directory (default: data/releases/<experiment>).")]
KeysFile = Annotated[Path | None, typer.Option(
    "--keys", help="The API key file (default: $CLOUT_API_KEYS_FILE, else "
                   "data/secrets/api_keys.json).")]
NoKeys = Annotated[bool, typer.Option(
    "--no-keys", help="Serve without API keys: loopback only, for local development.")]


def warn_if_name_is_shared(path: Path, name: str) -> None:
    """Say so when another experiment file beside `path` has the same name: its runs and
    outputs are told apart by file, but in the MLflow UI the two look alike."""
    import yaml

    for other in sorted(path.parent.glob("*.y*ml")):
        if other.resolve() == path.resolve():
            continue
        try:
            raw = yaml.safe_load(other.read_text())
        except (OSError, yaml.YAMLError):
            continue
        theirs = raw.get("name", other.stem) if isinstance(raw, dict) else None
        if theirs == name:
            console.print(f"[yellow]warning:[/] {other} is also named {name!r}: give {path} a "
                          "name of its own, so that runs tell them apart at a glance")


def _experiment(path: Path, data_path: Path | None):
    from clout.config import load_experiment

    return load_experiment(path, **({"data.path": str(data_path)} if data_path else {}))


@app.command()
def train(
    experiment: ExperimentFile,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    out: Annotated[Path | None, typer.Option(
        help="Also write features, test scores and the model here "
             "(default: data/processed/<experiment file name>).")] = None,
    log: Annotated[bool, typer.Option(help="Record the run in MLflow.")] = True,
    gaming: Annotated[bool, typer.Option(
        help="Also inject every attack of the attack library into the world (simulated data, "
             "with its ground truth) "
             "and log what each buys with the run (its report shows it; minutes).")] = False,
    no_cache: NoCache = False,
) -> None:
    """Run an experiment: features, heads, calibration, score, evaluation; one MLflow run."""
    say(LOADING)
    from clout.cache import Cache
    from clout.pipeline import train as run_training

    spec = _experiment(experiment, data_path)
    if gaming and spec.data.source not in ("simulator", "directory"):
        fail("--gaming measures genuine accounts' gains: it needs simulated data (the "
             "simulator, or a directory it wrote, with its ground truth)", 2)
    warn_if_name_is_shared(experiment, spec.name)
    out = out or Path("data/processed") / experiment.stem  # by file: copies never share it
    result = run_training(spec, tracking_uri, out=out, log=log, say=say,
                          cache=Cache(rebuild=no_cache, say=say))
    if gaming:
        from clout.gaming import display, log_gaming, world_gaming

        say("gaming: every attack of the attack library")
        table = world_gaming(result.model, result.source, spec.data.seed, say=say)
        print_frame(display(table), title="what each attack buys (points)")
        if result.run_id:
            log_gaming(result.run_id, table, tracking_uri)
    ev, score_map = result.evaluation, result.model.score_map
    print_frame(ev.metrics[["head", "predictor", "accounts", "poisson_deviance",
                            "deviance_improvement", "spearman", "relative_ece", "calibration"]],
                title=f"test cutoff {result.split.test:%Y-%m-%d}: rates by head (per post, or "
                      "per account where the source has no posts)")
    console.print("[dim]poisson_deviance: of the rates, lower is better; deviance_improvement: "
                  "the share of the constant's deviance removed, higher is better; spearman: "
                  "accounts ranked against what they received, higher is better; relative_ece: "
                  "calibration error over the mean rate, lower is better; calibration: the map "
                  "kept for the model (none where none helped held-out data)[/]")
    if ev.truth_gaps is not None:
        print_frame(ev.truth_gaps, title="score against the truth it estimates, by role "
                    "(gap: points above genuine accounts of the same truth)")
    console.print(
        f"score: median {ev.scores['score'].median():.0f}; {result.model.points_meaning()}; "
        f"map {score_map.id}; model "
        f"{result.model.version}" + "".join(
            f"; {k} {v:.3f}" for k, v in ev.summary.score_metrics().items()
            if k.startswith("spearman")))
    measure = "spearman_truth" if ev.truth_gaps is not None else "spearman_realised"
    rivals = [f"{name.replace('_', ' ')} {value:.3f}" for name in ev.rivals
              if (value := ev.summary.score(measure, name)) is not None]
    console.print(f"{measure.replace('_', ' ')}: model {ev.summary.score(measure):.3f}; "
                  f"from history alone, no trees: {', '.join(rivals)} ({CLI} evaluate: over "
                  "several worlds or cutoffs)")
    console.print(f"wrote {out}/ (features.parquet, test-scores.parquet: the test cutoff's "
                  "scores, model/)")


@app.command()
def score(
    experiment: ExperimentFile,
    run: Annotated[str | None, typer.Option(
        help="MLflow run whose model to use (default: the experiment's latest run).")] = None,
    model: Annotated[str | None, typer.Option(
        help="A model instead of a run: an MLflow URI (models:/clout@champion) or a saved "
             "model directory.")] = None,
    cutoff: Annotated[str | None, typer.Option(
        help="Score accounts as of this UTC midnight (default: the day after the data ends).")
    ] = None,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    out: Annotated[Path | None, typer.Option(
        help="Parquet file (default: data/processed/<experiment file name>/"
             "scores-<cutoff>.parquet).")
    ] = None,
    no_cache: NoCache = False,
    compiled: Annotated[bool, typer.Option(
        help="Score with the trees compiled to machine code (lleaves; cached in "
             "data/interim/cache/compiled), the same scores faster; LightGBM where they "
             "do not compile.")] = True,
) -> None:
    """Score every account at a cutoff with a trained model; writes Parquet with versions."""
    say(LOADING)
    from mlflow.exceptions import MlflowException

    from clout import tracking
    from clout.cache import Cache, default_root
    from clout.compute import session
    from clout.export.mlflow_model import load_influence_model
    from clout.features.build import load_tables
    from clout.pipeline import account_topics, load_source, scored_batch
    from clout.scoring.distributed import ScoringFailed
    from clout.scoring.score import InfluenceModel

    spec = _experiment(experiment, data_path)
    when = None if cutoff is None else _date(cutoff)
    try:
        tracking.use_store(tracking_uri)
        if model is not None and Path(model).is_dir():
            influence = InfluenceModel.load(model)
        else:
            if model is None:
                run = tracking.resolve_run(run, tracking_uri, spec.mlflow_experiment,
                                           source=experiment)
                model = f"runs:/{run}/{tracking.RUN.model}"
            say(f"model {model}")
            influence = load_influence_model(model)
        if compiled:
            say("compiling the trees (once per model and machine)")
            influence.compile_trees(default_root() / "compiled")
        cache = Cache(rebuild=no_cache, say=say)
        say(f"data: {spec.data.source}")
        source = load_source(spec.data, cache)
        say("features and scores of every account")
        with session(spec.compute) as engine:
            scores, rows = scored_batch(influence, source, when, engine, cache)
        say("topics and audiences")
        topics, context = account_topics(influence, scores, spec.data,
                                         load_tables(source.dataset))
    except MlflowException as err:
        fail(err.message, 2)
    except ScoringFailed as err:  # the cluster failed, not the input
        fail(str(err), 1)
    day = scores["cutoff"].iloc[0]
    out = out or Path("data/processed") / experiment.stem / f"scores-{day:%Y-%m-%d}.parquet"
    written = {out: scores, beside(out, "topics"): topics.scores,
               beside(out, "audience"): topics.audience_summary(),
               beside(out, "features"): rows}
    terms = context.terms()  # topics learned from text before the cutoff, where they were
    if terms is not None:
        written[beside(out, "topic-terms")] = terms
    for path, frame in written.items():
        with replacing_file(path) as partial:  # renamed only once completely written
            frame.to_parquet(partial, index=False)
    # the model that made them: a release recombines them under other weights and, with the
    # features, says why a score moved
    influence.save(beside(out, "model"))
    ones = float((scores["score"] == 1).mean())
    why = scores.loc[scores["score"] == 1, "why_score_1"].value_counts(normalize=True)
    top = scores.loc[scores["score"].idxmax(), "account_id"]
    console.print(
        f"scores: {out} ({len(scores):,} accounts at {day:%Y-%m-%d}; model "
        f"{influence.version}, map {influence.score_map.id}); by topic and audience beside "
        f"it (-topics, -audience{'' if terms is None else ', -topic-terms'}, -features, -model: "
        f"{topics.scores['topic'].nunique()} topics)\n"
        f"meaning: median {scores['score'].median():.0f}; {ones:.0%} score 1 ("
        + ", ".join(f"{share:.0%} of them {reason}" for reason, share in why.items())
        + f": why_score_1 says which); {influence.points_meaning()}\n"
        f"next: make ui (the runs, http://127.0.0.1:5000), {CLI} report (the reviewer's "
        f"report), {CLI} explain {top} (why an account scores what it does)",
        soft_wrap=True)  # three lines, however long: a terminal wraps them, a log keeps them


def _integers(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"expected integers separated by commas, got {text!r}") \
            from None


@app.command()
def evaluate(
    experiment: ExperimentFile,
    seeds: Annotated[str | None, typer.Option(
        help="Simulated worlds (data seeds), e.g. 7,8,9 (default: the experiment's).")] = None,
    rolling: Annotated[int, typer.Option(
        help="Test on each of the last N cutoffs, retraining for each (rolling origin).")] = 1,
    model_seeds: Annotated[str | None, typer.Option(
        help="Training seeds, e.g. 7,8 (default: the experiment's model.seed).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    doc: Annotated[Path | None, typer.Option(
        help="Write this experiment's section into this Markdown file (docs/quality.md).")] =
        None,
    readme: Annotated[Path | None, typer.Option(
        help="Then quote every experiment's headline from --doc in this README's block.")] =
        None,
    bar: Annotated[bool, typer.Option(
        help="Exit 1 if the model ranks below the history index, or a head below the "
             "historical mean, by more than 0.01.")] = False,
    gaming: Annotated[bool, typer.Option(
        help="Also inject every attack of the attack library into each world and table what "
             "it buys (simulated data; minutes per world).")] = False,
    attacks: Annotated[str | None, typer.Option(
        help="With --gaming: only these attacks, e.g. noise,pod.")] = None,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    log: Annotated[bool, typer.Option(help="Record a parent run and a run per case.")] = True,
) -> None:
    """Quality over several worlds or test cutoffs: the model beside history baselines, with
    mean ± sd, every case's value and a paired bootstrap against the best baseline."""
    say(LOADING)
    from clout.quality import bar_checks, log_evaluation, quote_headlines, tables, write_section
    from clout.quality import evaluate as run_evaluation

    spec = _experiment(experiment, data_path)
    seed_list, model_seed_list = _integers(seeds), _integers(model_seeds)
    if readme is not None and doc is None:
        fail("--readme quotes the headlines of --doc: give both", 2)
    if attacks is not None and not gaming:
        fail("--attacks chooses what --gaming injects: give both", 2)
    chosen = [a.strip() for a in attacks.split(",")] if gaming and attacks else gaming
    result = run_evaluation(spec, seed_list, rolling, model_seed_list, bootstrap, chosen, say=say)
    result.command = " ".join([f"clout evaluate {experiment}",
                               *([f"--seeds {seeds}"] if seeds else []),
                               *([f"--rolling {rolling}"] if rolling > 1 else []),
                               *([f"--model-seeds {model_seeds}"] if model_seeds else []),
                               *(["--gaming"] if gaming else []),
                               *([f"--attacks {attacks}"] if attacks else [])])
    for title, frame in tables(result).items():
        print_frame(frame, title=title)
    if doc is not None:
        console.print(f"wrote {write_section(result, doc)}")
    if readme is not None:
        console.print(f"quoted the headlines of {doc} in {quote_headlines(readme, doc)}")
    if log:
        run = log_evaluation(result, tracking_uri)
        console.print(f"MLflow run {run} (a child run per case) in experiment "
                      f"{spec.mlflow_experiment!r}")
    if bar:
        checks = bar_checks(result)
        for check in checks:
            console.print(f"[{'green' if check.passed else 'red'}]bar[/] {check}")
        if not all(check.passed for check in checks):
            fail("below the quality bar")


@app.command()
def tune(
    experiment: ExperimentFile,
    trials: Annotated[int, typer.Option(help="Points to try (the first: the experiment's own).")]
        = 30,
    objective: Annotated[str, typer.Option(
        help="spearman: the score's rank against realised engagement; deviance: the heads' "
             "mean deviance improvement; both on the cutoff before the test cutoff.")] =
        "spearman",
    out: Annotated[Path | None, typer.Option(
        help="Where to write the best as an experiment (default: <experiment>-tuned.yaml "
             "beside it).")] = None,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    log: Annotated[bool, typer.Option(help="Record a parent run and a run per trial.")] = True,
) -> None:
    """Search LightGBM's parameters with Optuna; write the best as a new experiment YAML."""
    say(LOADING)
    from clout.tuning import tune as run_tuning
    from clout.tuning import write_experiment

    spec = _experiment(experiment, data_path)
    out = out or experiment.with_name(f"{experiment.stem}-tuned.yaml")
    result = run_tuning(spec, trials, objective, tracking_uri, log, say=say)
    print_frame(result.trials.sort_values("value", ascending=False).head(10),
                title=f"best trials ({result.objective} on {result.tuning_cutoff:%Y-%m-%d})")
    command = f"clout tune {experiment} --trials {trials} --objective {objective}"
    write_experiment(result.experiment, out, f"Written by: {command}\n"
                     f"{result.experiment.description}\nMeasure it: clout evaluate {out}")
    console.print(f"best {result.best_value:.4f} (its own parameters {result.start_value:.4f}); "
                  f"wrote {out}")
    if result.run_id:
        console.print(f"MLflow run {result.run_id} (a child run per trial) in experiment "
                      f"{spec.mlflow_experiment!r}")


@app.command()
def redteam(
    experiment: ExperimentFile,
    budget: Annotated[float, typer.Option(help="Actions an attacker may spend per target.")] =
        2000,
    trials: Annotated[int, typer.Option(help="Tactics to try (Optuna).")] = 30,
    world: Annotated[int | None, typer.Option(
        help="The simulated world (data seed) to attack (default: the experiment's); keep the "
             "worlds the defences were tuned on apart.")] = None,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    log: Annotated[bool, typer.Option(help="Record the search as an MLflow run.")] = True,
    doc: Annotated[Path | None, typer.Option(
        help="Also write the best tactics to this markdown file, stamped with the command, "
             "date and commit.")] = None,
) -> None:
    """Search the attack an attacker who has read the defences would choose: the largest mean
    gain per target within --budget actions per target, against the experiment's model
    trained on its (simulated) world."""
    say(LOADING)
    from clout import tracking
    from clout.gaming import attack_date, genuine_accounts
    from clout.pipeline import fit_model
    from clout.prepare import prepare
    from clout.quality import markdown_table
    from clout.redteam import log_red_team, red_team

    spec = _experiment(experiment, data_path)
    if world is not None:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"seed": world})})
    prepared = prepare(spec, say=say)
    genuine = genuine_accounts(prepared.source.truth)  # refused before training without truth
    model = fit_model(spec, prepared.table, prepared.split, say=say)
    dataset = prepared.source.dataset
    result = red_team(model, dataset, genuine, attack_date(dataset), budget, trials,
                      seed=spec.model.seed, say=say)
    shown = result.trials.sort_values("mean_gain", ascending=False, na_position="last")
    print_frame(shown.head(10), title=f"best tactics within {budget:,.0f} actions per target "
                                      "(mean gain in points)")
    best = result.best
    said = (f"best: {best['mean_gain']:+.2f} points on average, up to {best['max_gain']:+.0f}, "
            f"for {best['actions_per_target']:,.0f} actions per target")
    console.print(said)
    if doc is not None:
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text("\n".join([
            "# The best attack a red team found", "",
            f"`clout redteam {experiment} --budget {budget:g} --trials {trials}"
            f"{'' if world is None else f' --world {world}'}` on "
            f"{pd.Timestamp.now(tz='UTC').date()}, commit `{tracking.git_commit()[:12]}`, "
            f"model `{model.version}`: {said}.", "",
            *markdown_table(shown.head(10).round(2))]) + "\n")
    if log:
        run = log_red_team(result, spec.name, spec.mlflow_experiment, model.version,
                           tracking_uri)
        console.print(f"MLflow run {run} in experiment {spec.mlflow_experiment!r}")


@app.command()
def runs(
    experiment: Annotated[str | None, typer.Argument(
        help="An MLflow experiment name, or an experiment YAML (its mlflow_experiment); "
             "default: every experiment.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    tracking_uri: TrackingUri = None,
) -> None:
    """The newest runs with their headline metrics (ids shortened: any unique prefix works)."""
    from clout import tracking

    name = experiment
    if experiment is not None and experiment.endswith((".yaml", ".yml")):
        name = _experiment(Path(experiment), None).mlflow_experiment
    table = tracking.recent_runs(name, limit, tracking_uri)
    if table.empty:
        console.print(f"no runs yet at {tracking.tracking_uri(tracking_uri)}"
                      + (f" in experiment {name!r}" if name else "")
                      + f": {CLI} train EXPERIMENT.yaml records one (make run does)")
        return
    print_frame(table, title=f"runs at {tracking.tracking_uri(tracking_uri)}")
    console.print(f"next: {CLI} compare RUN_A RUN_B, {CLI} report RUN, {CLI} promote RUN")


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="A run's id or a prefix of it.")],
    run_b: Annotated[str | None, typer.Argument(
        help="Another run's id or a prefix of it (default: compare RUN_A with its parent, "
             "the earlier run it changes least).")] = None,
    every_metric: Annotated[bool, typer.Option(
        help="Every metric, not only the score's and the model's own.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Two runs side by side: parameters that differ, metrics with the difference, and the
    features whose importance rank moved most."""
    from mlflow.tracking import MlflowClient

    from clout import tracking
    from clout.audit.compare import compare_runs

    a = tracking.resolve_run(run_a, tracking_uri)
    if run_b is None:
        parent = MlflowClient().get_run(a).data.tags.get(tracking.PARENT_TAG)
        if parent is None:
            fail(f"run {a[:8]} has no parent (no finished training run of its experiment came "
                 f"before it): {CLI} compare RUN_A RUN_B", 2)
        a, b = parent, a
    else:
        b = tracking.resolve_run(run_b, tracking_uri)
    for title, table in compare_runs(a, b, every_metric).items():
        print_frame(table, title=title)


@app.command()
def promote(
    run: Annotated[str, typer.Argument(help="A training run's id or a prefix of it.")],
    alias: Annotated[str, typer.Option(help="Alias to point at the new version.")] = "champion",
    tracking_uri: TrackingUri = None,
) -> None:
    """Register a run's model as a new version of the `clout` model and set an alias on it."""
    from mlflow.exceptions import MlflowException

    from clout import tracking
    from clout.export.mlflow_model import MODEL_NAME
    from clout.export.mlflow_model import promote as register

    run = tracking.resolve_run(run, tracking_uri)
    try:
        version = register(run, alias)
    except MlflowException as err:
        fail(f"cannot promote run {run}: {err.message}", 2)
    console.print(f"models:/{MODEL_NAME}@{alias} is now version {version} (run {run})")


def _model_uri(model: str, tracking_uri: str | None) -> str:
    """An MLflow model URI from what a user typed: a URI as it is, else a run id or prefix."""
    from clout import tracking

    if ":/" in model:
        tracking.use_store(tracking_uri)
        return model
    return f"runs:/{tracking.resolve_run(model, tracking_uri)}/{tracking.RUN.model}"


def _explain_move(account: int, since: int, run: str | None, directory: Path | None,
                  tracking_uri: str | None) -> None:
    """`explain --since`: the account's move from release `since` to the served one, by cause
    (the releases of the run's experiment unless `directory` says where)."""
    from clout import tracking
    from clout.audit.changes import score_changes
    from clout.export.release import Releases
    from clout.pipeline import run_experiment

    if directory is None:
        directory = Path("data/releases") / run_experiment(
            tracking.resolve_run(run, tracking_uri)).name
    releases = Releases(directory)
    if releases.current is None:
        raise NotFound(f"no release is served from {directory} (clout release publish)")
    before, now = (releases.scored(n, [account]) for n in (since, releases.current))
    parts = score_changes(before, now).iloc[0]
    move = int(parts.pop("move"))
    print_frame(parts.rename("points").round(2).rename_axis("cause").reset_index(),
                title=f"account {account}: {before[2].iloc[0]} -> {now[2].iloc[0]} "
                      f"({move:+d} points) from release {since} to release {releases.current}")
    console.print(f"the parts add up to the move ({move:+d}); the largest: "
                  f"{parts.abs().idxmax()} ({parts[parts.abs().idxmax()]:+.1f} points)")


@app.command("forget")
def forget_accounts(
    accounts: Annotated[list[str], typer.Argument(help="The account ids to forget.")],
    directory: Annotated[list[Path] | None, typer.Option(
        "--dir", help="A release directory (default: every one under data/releases).")] = None,
    processed: Annotated[Path | None, typer.Option(
        help="The outputs of runs and scores to erase them from (default: data/processed).")]
        = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Forget accounts, for good: on the do-not-score list (data/privacy: digests, not ids),
    never scored nor served again (their engagement of others counts under a pseudonym), and
    erased from the releases (a new one is served without them), the cache, data/processed
    and the training runs' files that name accounts."""
    from clout.erasure import forget

    ids = _integers(",".join(accounts))
    dirs = directory or sorted(p for p in Path("data/releases").glob("*") if p.is_dir())
    forget(ids, dirs, processed=processed, tracking_uri=tracking_uri, say=say)
    console.print(f"{len(ids)} account(s) forgotten: the lookup answers 410 for them; every "
                  "later run, score and release leaves them out")


@app.command("example-request")
def example_request(
    model: Annotated[str, typer.Argument(
        help="An MLflow model URI (models:/clout@champion, runs:/RUN_ID/clout) or a run id.")]
        = "models:/clout@champion",
    tracking_uri: TrackingUri = None,
) -> None:
    """Print a valid request body for `clout serve` (the rows the run logged as its example):
    clout example-request > request.json, then curl --data @request.json."""
    from clout.export.mlflow_model import serving_example

    sys.stdout.write(serving_example(_model_uri(model, tracking_uri)))


@app.command()
def serve(
    model: Annotated[str, typer.Argument(
        help="An MLflow model URI (models:/clout@champion, runs:/RUN_ID/clout) or a run id.")]
        = "models:/clout@champion",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (the MLflow UI of make ui has 5000).")] = 5001,
    tracking_uri: TrackingUri = None,
    keys: KeysFile = None,
    no_keys: NoKeys = False,
) -> None:
    """Serve the model over HTTP as `mlflow models serve` does (POST /invocations, GET /ping),
    once its files are verified, to callers with an API key (clout keys create), refusing
    oversized or deeply nested requests."""
    from mlflow.exceptions import MlflowException

    from clout.export.access import service_access
    from clout.export.mlflow_model import model_behind
    from clout.export.serving import serve as run_server

    uri = _model_uri(model, tracking_uri)
    try:
        behind = model_behind(uri)  # an unknown model is said before missing keys
        access = service_access(host, no_keys, keys)
        console.print(f"serving {uri} ({behind}) at "
                      f"http://{host}:{port}/invocations{_keys_said(access)} (Ctrl+C stops)")
        run_server(uri, access, host, port)
    except MlflowException as err:
        fail(f"cannot serve {uri}: {err.message}", 2)


@app.command("export")
def export_model(
    model: Annotated[str, typer.Argument(
        help="An MLflow model URI (models:/clout@champion, runs:/RUN_ID/clout) or a saved "
             "model directory.")],
    out: Annotated[Path, typer.Option(help="Directory to write model.json and heads/*.onnx.")]
        = Path("data/processed/onnx"),
    tracking_uri: TrackingUri = None,
) -> None:
    """Export every booster to ONNX beside the model's numbers (offsets, calibrators, map)."""
    from mlflow.exceptions import MlflowException

    from clout import tracking
    from clout.export.mlflow_model import saved_model_directory
    from clout.export.onnx import export_onnx

    tracking.use_store(tracking_uri)
    try:
        source = Path(model) if Path(model).is_dir() else saved_model_directory(model)
        written = export_onnx(source, out)
    except (CloutError, MlflowException) as err:
        fail(f"cannot export {model}: {getattr(err, 'message', err)}", 2)
    graphs = sorted(p.name for p in (written / "heads").glob("*.onnx"))
    console.print(f"wrote {written}: model.json and {len(graphs)} ONNX graphs "
                  f"({', '.join(graphs)})")


@app.command()
def importance(
    run: Annotated[str | None, typer.Argument(
        help="A training run's id or a prefix of it (default: the latest finished run).")] =
        None,
    head: Annotated[str | None, typer.Option(help="Only this head (e.g. retweets).")] = None,
    top: Annotated[int, typer.Option(help="Features per head, by mean |SHAP|.")] = 10,
    tracking_uri: TrackingUri = None,
) -> None:
    """What drives each head of a run: gain, split, mean |SHAP|, permutation, side by side."""
    from mlflow.exceptions import MlflowException

    from clout import tracking

    run = tracking.resolve_run(run, tracking_uri)
    try:
        table = tracking.logged_table(run, tracking.RUN.importance)
    except MlflowException as err:
        fail(f"cannot read the importance of run {run}: {err.message}", 2)
    if head is not None:
        if head not in set(table["head"]):
            heads = ", ".join(sorted(set(table["head"])))
            fail(f"run {run} has no head {head!r} (heads: {heads})", 2)
        table = table[table["head"] == head]
    shown = table.groupby("head", sort=False).head(top)
    print_frame(shown[["head", "feature", "family", "gain_share", "split", "mean_abs_shap",
                       "permutation", "permutation_rank"]],
                title=f"importance, run {run} (test cutoff), by mean |SHAP|")


@app.command()
def explain(
    account: Annotated[str, typer.Argument(help="The account id to explain.")],
    run: Annotated[str | None, typer.Option(
        help="Training run, its id or a prefix (default: the latest finished run).")] = None,
    cutoff: Annotated[str | None, typer.Option(
        help="As of this UTC midnight (default: the day after the data ends).")] = None,
    top: Annotated[int, typer.Option(help="Features to show.")] = 10,
    data_path: DataPath = None,
    tracking_uri: TrackingUri = None,
    no_cache: NoCache = False,
    since: Annotated[int | None, typer.Option(
        help="Why the score moved from this release to the served one instead: causes in "
             "points that add up to the move.")] = None,
    directory: ReleaseDir = None,
) -> None:
    """Why an account has its score: features in score points that add up to the score's
    difference from a typical account, with the account's value and the typical one. With
    --since RELEASE, why it moved since then: its own data (posts, engagement received, its
    engagers' standing, its audience and discounted engagement) and the model or the map."""
    say(LOADING)
    from mlflow.exceptions import MlflowException

    from clout import tracking
    from clout.audit.explain import HISTORY, HISTORY_MEANS
    from clout.audit.explain import explain as explain_account
    from clout.cache import Cache
    from clout.features.build import load_tables
    from clout.features.credibility import rules_said
    from clout.pipeline import account_topics, discounted_engagers, run_experiment, run_features
    from clout.prepare import load_source
    from clout.scoring.topics import INFLUENTIAL_SCORE

    # the contract's ids are 64-bit integers: anything else is refused before minutes of work
    if not re.fullmatch(r"-?\d{1,19}", account) or not -2**63 <= int(account) < 2**63:
        raise NotFound(f"account {account!r} is not an id: account ids are whole numbers "
                       "(clout score writes them)")
    if since is not None:
        return _explain_move(int(account), since, run, directory, tracking_uri)
    uri = tracking.use_store(tracking_uri)
    when = None if cutoff is None else _date(cutoff)
    try:
        run = tracking.resolve_run(run, tracking_uri)
        say(f"run {run[:8]}: its model, data and features")
        cache = Cache(rebuild=no_cache, say=say)
        spec = run_experiment(run, data_path)
        source = load_source(spec.data, cache)
        ids = source.dataset.accounts["account_id"]
        if not ids.astype(str).eq(account).any():  # refused before the features are built
            raise NotFound(f"account {account} is not in the data of run {run[:8]} "
                           f"({len(ids):,} accounts; clout score lists them)")
        model, frame = run_features(run, when, cache=cache, source=source)
    except MlflowException as err:
        fail(err.message, 2)
    try:  # the id as the data types it
        wanted = pd.Series([account]).astype(frame["account_id"].dtype).iloc[0]
    except (ValueError, TypeError, OverflowError):
        raise NotFound(f"account {account!r} is not an id of this data "
                       f"({frame['account_id'].dtype} ids)") from None
    say("the score's parts, feature by feature")
    result = explain_account(model, frame, wanted)
    parts = ", ".join(f"{k} {v}" for k, v in result.components.items())
    console.print(f"account {account} at {frame['cutoff'].iloc[0]:%Y-%m-%d}: score {result.score}"
                  + (f" ({parts})" if parts else "") + f"; run {run} at {uri}")
    if result.discounted > 0:
        say("who engaged it in a way the rules discount")
        engagers = discounted_engagers(model.feature_config, source.dataset, wanted,
                                       frame["cutoff"].iloc[0])
        console.print(f"{result.discounted:.1%} of the engagement received in the last "
                      f"{max(model.feature_config.windows)} days counts for nothing, as bought "
                      f"engagement does: {len(engagers):,} engagers {rules_said()}")
        print_frame(engagers.head(top).astype({"engager_id": str}),  # ids, not amounts
                    title="discounted engagers")
    if result.silent:
        console.print(f"{result.silent}: no influence shown, so the score is 1")
        return
    console.print(f"typical account {result.baseline:.1f}, this account {result.continuous:.1f}"
                  f" (before rounding): the parts below add up to the difference")
    parts = result.top(top)
    print_frame(parts, title="what moved the score (points)")
    if HISTORY in set(parts["feature"]):
        console.print(HISTORY_MEANS.format(window=max(model.feature_config.windows)))
    say("what it is influential about, and over whom")
    topics, _ = account_topics(model, model.score(frame), spec.data, load_tables(source.dataset))
    about, audience = topics.of(wanted)
    print_frame(about.head(top)[["topic", "topic_score", "posts", "credible_engagement"]]
                .round({"credible_engagement": 1}), title="topics: what it is influential about")
    if audience is not None:
        console.print(
            f"audience (over whom): {audience['engagers']:,} credible engagers in the last "
            f"{max(model.feature_config.windows)} days, {audience['influential_engagers']:,} of "
            f"them scoring {INFLUENTIAL_SCORE} or more themselves (median engager "
            f"{audience['median_engager_score']:.0f}); what they post about: "
            f"{audience['audience_topics']}"
            + ("" if pd.isna(audience["audience_communities"]) else
               f"; their communities: {audience['audience_communities']}"), soft_wrap=True)


@app.command()
def report(
    run: Annotated[str | None, typer.Argument(
        help="A training run's id or a prefix of it (default: the latest finished run).")] =
        None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for report.html and report.png (default: reports/<run id>).")] = None,
    screenshot: Annotated[bool, typer.Option(
        help="Also render a screenshot with headless Chromium, when one is installed.")] = True,
    tracking_uri: TrackingUri = None,
) -> None:
    """The reviewer report of a run: one self-contained HTML file, logged to the run."""
    from mlflow.exceptions import MlflowException

    from clout import tracking
    from clout.audit.report import browser, log_report

    uri = tracking.use_store(tracking_uri)
    run = tracking.resolve_run(run, tracking_uri)
    try:
        files = log_report(run, out or Path("reports") / run, screenshot)
    except MlflowException as err:
        fail(f"cannot build the report of run {run}: {err.message}", 2)
    if screenshot and browser() is None:
        console.print("no Chromium on PATH: report written without a screenshot")
    console.print(f"wrote {', '.join(map(str, files))}; logged under report/ in run {run} "
                  f"at {uri}")


def beside(scores: Path, what: str) -> Path:
    """What `clout score` writes beside its scores and `release publish` reads: `topics`,
    `features` (Parquet) or `model` (a saved model's folder)."""
    return scores.with_name(f"{scores.stem}-{what}" + ("" if what == "model" else ".parquet"))


def _releases(spec, directory: Path | None):
    from clout.export.release import Releases

    return Releases(directory or Path("data/releases") / spec.name)


@release_app.command("publish")
def release_publish(
    experiment: ExperimentFile,
    scores: Annotated[Path, typer.Argument(help="Scores Parquet from `clout score`.")],
    force: Annotated[bool, typer.Option(help="Publish even if the gate refuses.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why --force (required with it).")] = None,
    directory: ReleaseDir = None,
) -> None:
    """Publish a scored batch as the next release, unless it looks like a fault."""
    from clout.export.release import ReleaseRefused
    from clout.scoring.score import InfluenceModel

    spec = _experiment(experiment, None)
    releases = _releases(spec, directory)
    if not scores.is_file():
        raise MissingFile(f"scores file {scores} not found (clout score writes one)")
    try:
        topics, model, rows = (beside(scores, "topics"), beside(scores, "model"),
                               beside(scores, "features"))
        number, checks = releases.publish(
            pd.read_parquet(scores), spec.release, force, reason,
            pd.read_parquet(topics) if topics.is_file() else None,
            InfluenceModel.load(model) if model.is_dir() else None,
            pd.read_parquet(rows) if rows.is_file() else None)
    except ReleaseRefused as err:
        print_frame(pd.DataFrame([c.__dict__ for c in err.checks]), title="gate")
        fail(f"{err}; release {releases.current} stays served", 1)
    print_frame(pd.DataFrame([c.__dict__ for c in checks]), title="gate")
    console.print(f"release {number} published and served from {releases.directory}"
                  + (f" (forced: {reason})" if any(not c.passed for c in checks) else ""))


@release_app.command("rollback")
def release_rollback(experiment: ExperimentFile, directory: ReleaseDir = None) -> None:
    """Serve the previous release again (every release stays on disk)."""
    releases = _releases(_experiment(experiment, None), directory)
    number = releases.rollback()
    console.print(f"release {number} is served again from {releases.directory}")


@release_app.command("list")
def release_list(experiment: ExperimentFile, directory: ReleaseDir = None) -> None:
    """Every release, which one is served and which a rollback would return to; and folders
    that are not whole releases (`clout release clean` removes them)."""
    releases = _releases(_experiment(experiment, None), directory)
    stack = releases.served_stack()
    rows = [{"release": n, "status": "served" if n == releases.current else
                       "earlier: a rollback returns to it" if n in stack else
                       "withdrawn: rolled back",
             **{k: releases.info(n).get(k) for k in ("accounts", "cutoff", "model_version",
                                                     "forced", "reason")}}
            for n in releases.numbers()]
    print_frame(pd.DataFrame(rows), title=f"releases in {releases.directory}")
    for path in releases.incomplete():
        console.print(f"[yellow]incomplete[/] {path} (never served; clout release clean "
                      "removes it)")


@release_app.command("clean")
def release_clean(experiment: ExperimentFile, directory: ReleaseDir = None) -> None:
    """Remove folders that are not whole releases (a publish that died half way)."""
    releases = _releases(_experiment(experiment, None), directory)
    removed = releases.clean()
    console.print(f"removed {len(removed)} incomplete folder(s) from {releases.directory}"
                  + "".join(f"\n  {p.name}" for p in removed))


@release_app.command("serve")
def release_serve(
    experiment: ExperimentFile,
    directory: ReleaseDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        help="Port (make ui has 5000, clout serve 5001).")] = 5002,
    keys: KeysFile = None,
    no_keys: NoKeys = False,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes sharing the port: concurrent callers do not queue behind "
                    "one (docs/lookup.md measures 1 and 8 clients).")] = 2,
) -> None:
    """Serve the current release's scores by account id over HTTP (GET /accounts/ID,
    /accounts?ids=1,2, /release) to callers with an API key (clout keys create): what
    production callers ask, who hold ids, not features. A publish or rollback is served from
    the next request on."""
    from clout.export.access import service_access
    from clout.export.lookup import serve_release

    access = service_access(host, no_keys, keys)
    releases = _releases(_experiment(experiment, None), directory)
    served = "no release yet"
    if releases.current:  # which model made the scores: clout serve may serve another
        info = releases.info(releases.current)
        served = (f"release {releases.current}: scores of {info.get('cutoff', '?')[:10]} by "
                  f"model {info.get('model_version', 'unknown')}")
    console.print(f"serving {releases.directory} ({served}) at http://{host}:{port}/accounts/ID"
                  f"{_keys_said(access)} (Ctrl+C stops)")
    serve_release(releases, access, host, port, workers)


def _keys_said(access) -> str:
    return (" [bold yellow]without API keys[/] (--no-keys)" if access is None else
            f" for {len(access.by_digest)} API key(s)")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who holds the key (letters, digits, . _ -).")],
    routes: Annotated[str, typer.Option(
        help="Routes it may call, comma-separated (a path's first segment: accounts, topics, "
             "release, invocations, ping, ...), or * for all.")] = "*",
    rate: Annotated[float, typer.Option(help="Requests a second, on average.")] = 50.0,
    burst: Annotated[int, typer.Option(help="Requests at once.")] = 100,
    keys: KeysFile = None,
) -> None:
    """Create an API key: printed once, never stored (the key file keeps its digest)."""
    from clout.export.access import create_key

    key, path = create_key(name, [r.strip().strip("/") for r in routes.split(",") if r.strip()],
                           rate, burst, keys)
    console.print(f"key {name!r} added to {path}; it is shown once, keep it:", style="dim")
    print(key)  # alone on its line, unwrapped: KEY=$(clout keys create NAME | tail -1)


@keys_app.command("list")
def keys_list(keys: KeysFile = None) -> None:
    """The keys of the key file: names, routes, rates (never the keys)."""
    from clout.export.access import keys_file, read_keys

    found = read_keys(keys)
    if not found:
        console.print(f"no keys in {keys_file(keys)} (clout keys create NAME)")
        return
    print_frame(pd.DataFrame([{"name": k.name, "routes": ",".join(k.routes), "rate": k.rate,
                               "burst": k.burst, "created": k.created} for k in found]),
                title=str(keys_file(keys)))


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")],
                keys: KeysFile = None) -> None:
    """Remove a key: the services refuse it from their next request."""
    from clout.export.access import revoke_key

    console.print(f"key {name!r} removed from {revoke_key(name, keys)}: refused from the "
                  "services' next request")


@cache_app.command("list")
def cache_list() -> None:
    """Every cached table: what it holds, its size, when it was built, and whether the code
    that built it is today's (entries of older code are never read again)."""
    from clout.cache import PROJECT_CACHE

    entries = pd.DataFrame(PROJECT_CACHE.entries())
    if len(entries):
        entries.insert(3, "MiB", (entries.pop("bytes") / 2**20).round(1))
    print_frame(entries, title=f"cache at {PROJECT_CACHE.folder}")
    if len(entries):
        console.print(f"{entries['MiB'].sum():,.0f} MiB in {len(entries)} entries; "
                      "clout cache clear removes them")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached table (the next command builds what it needs again)."""
    from clout.cache import PROJECT_CACHE

    removed = PROJECT_CACHE.clear()
    console.print(f"removed {removed} entries from {PROJECT_CACHE.folder}")


if __name__ == "__main__":
    app()
