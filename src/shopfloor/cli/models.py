"""``shopfloor models list|show|promote|rollback|train|predict``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shopfloor.cli.common import fail, print_table, run_unit_of_work
from shopfloor.config import Settings
from shopfloor.core.errors import ShopfloorError
from shopfloor.ml.registry import Registry, VersionInfo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shopfloor.ml.retrain import Decision
    from shopfloor.readings.store import ReadingStore

app = typer.Typer(
    help="Models that predict failures and remaining useful life.", no_args_is_help=True
)
train_app = typer.Typer(help="Train a model and register it as a new version.")
predict_app = typer.Typer(help="Predict with a registered model.")
app.add_typer(train_app, name="train")
app.add_typer(predict_app, name="predict")
ALIAS = typer.Option("champion", "--alias", help="champion or challenger")


def registry() -> Registry:
    settings = Settings()
    return Registry.from_settings(settings.data_dir, settings.mlflow_url)


def _day(info: VersionInfo) -> str:
    return dt.datetime.fromtimestamp(info.created_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%MZ")


def _metrics(info: VersionInfo) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(info.metrics.items())) or "-"


def _guarded(work: Any) -> Any:
    try:
        return work()
    except ShopfloorError as exc:
        fail(exc.detail)


@app.command("list")
def list_models() -> None:
    """Registered models, their newest version and their aliases."""

    def rows() -> list[list[str]]:
        found = []
        reg = registry()
        for name in reg.names():
            versions = reg.versions(name)
            aliases = ", ".join(f"{a}=v{v.version}" for v in versions for a in v.aliases)
            found.append([name, versions[0].kind, f"v{versions[0].version}", aliases or "-"])
        return found

    print_table(["name", "kind", "newest", "aliases"], _guarded(rows), "no models yet")


@app.command("show")
def show(name: str = typer.Argument(..., help="The model's name.")) -> None:
    """A model's versions: aliases, metrics, training data fingerprint."""
    versions = _guarded(lambda: registry().versions(name))
    print_table(
        ["version", "aliases", "created", "metrics", "data"],
        [
            [
                f"v{v.version}",
                ", ".join(v.aliases) or "-",
                _day(v),
                _metrics(v),
                v.tags.get("shopfloor.data_fingerprint", "-")[:19],
            ]
            for v in versions
        ],
        "no versions",
    )


@app.command("promote")
def promote(
    name: str = typer.Argument(...),
    version: int = typer.Argument(..., min=1),
    alias: str = ALIAS,
) -> None:
    """Point an alias (champion by default) at a version."""
    info = _guarded(lambda: registry().promote(name, version, alias))
    typer.echo(f"{name}@{alias} → v{info.version}")


@app.command("rollback")
def rollback(name: str = typer.Argument(...), alias: str = ALIAS) -> None:
    """Move an alias back to the version it pointed at before the last promotion."""
    info = _guarded(lambda: registry().rollback(name, alias))
    typer.echo(f"{name}@{alias} → v{info.version} (rolled back)")


FORMAT = typer.Option(..., "--format", help="cmapss (NASA text) or ai4i (the UCI CSV)")
DATA = typer.Option(..., "--data", exists=True, dir_okay=False, help="The training file.")
TRAIN_DATA = typer.Option(
    None, "--data", exists=True, dir_okay=False, help="The training file (with --format)."
)
TRAIN_FORMAT = typer.Option(None, "--format", help="The file's format (with --data).")
FROM_READINGS = typer.Option(
    None,
    "--from-readings",
    metavar="PATH",
    help="Train on the stored readings of the assets at or under PATH instead of a file.",
)


@train_app.command("rul")
def train_rul_command(
    data: Path | None = TRAIN_DATA,
    data_format: str | None = TRAIN_FORMAT,
    under: str | None = FROM_READINGS,
    name: str = typer.Option("rul", "--name", help="Register under this name."),
) -> None:
    """Remaining useful life from run-to-failure histories: a C-MAPSS text file, or the
    readings of assets marked run_to_failure whose sensors are named s_1 … s_21."""
    from shopfloor.ml.training import train_rul_from_file

    if under is not None:
        _no_file_with_readings(data, data_format)
        _train_from_readings("rul", under, name)
        return
    data = _file_needed(data, data_format, "cmapss", "remaining useful life")
    info = _guarded(lambda: train_rul_from_file(registry(), data, name))
    typer.echo(f"registered {name} v{info.version}: {_metrics(info)}")


@train_app.command("failure")
def train_failure_command(
    data: Path | None = TRAIN_DATA,
    data_format: str | None = TRAIN_FORMAT,
    under: str | None = FROM_READINGS,
    name: str = typer.Option("failure", "--name", help="Register under this name."),
) -> None:
    """Failure risk from process measurements: an AI4I 2020 CSV, or the readings of assets
    with the five measurements, a machine_failure sensor (0/1) and a "type" attribute."""
    from shopfloor.ml.training import train_failure_from_file

    if under is not None:
        _no_file_with_readings(data, data_format)
        _train_from_readings("failure", under, name)
        return
    data = _file_needed(data, data_format, "ai4i", "failure prediction")
    info = _guarded(lambda: train_failure_from_file(registry(), data, name))
    typer.echo(f"registered {name} v{info.version}: {_metrics(info)}")


def _no_file_with_readings(data: Path | None, data_format: str | None) -> None:
    if data is not None or data_format is not None:
        fail("--from-readings trains on stored readings: leave out --data and --format")


def _file_needed(data: Path | None, data_format: str | None, expected: str, what: str) -> Path:
    if data is None:
        fail(f"give --data FILE --format {expected}, or --from-readings PATH")
    if data_format != expected:
        fail(f"--format {data_format!r}: {what} reads {expected}")
    return data


def _train_from_readings(kind: str, under: str, name: str) -> None:
    from shopfloor.ml.training import train_from_readings

    async def work(session: AsyncSession) -> VersionInfo:
        return await train_from_readings(
            session, _store_of(session), registry(), kind, name, under=under
        )

    info = run_unit_of_work("models.train", work, write=False)
    typer.echo(f"registered {name} v{info.version} ({info.description}): {_metrics(info)}")


def _store_of(session: AsyncSession) -> ReadingStore:
    from shopfloor.readings.store import store_for

    return store_for(session.get_bind().dialect.name)


@predict_app.command("rul")
def predict_rul_command(
    model: str = typer.Option(..., "--model", help="NAME, NAME@ALIAS or NAME@VERSION"),
    data: Path = DATA,
    data_format: str = FORMAT,
    out: Path = typer.Option(..., "--out", help="Where to write unit,rul."),
) -> None:
    """Each unit's remaining useful life at its last cycle, written as ``unit,rul``."""
    from shopfloor.ml.training import predict_rul_to_file

    if data_format != "cmapss":
        fail(f"--format {data_format!r}: remaining useful life reads cmapss")
    info, units = _guarded(lambda: predict_rul_to_file(registry(), model, data, out))
    typer.echo(f"{units} unit(s) → {out} ({info.name} v{info.version})")


@app.command("retrain")
def retrain_command(
    name: str = typer.Argument(..., help="The model to retrain."),
    under: str | None = typer.Argument(
        None, metavar="[PATH]", help="With --from-readings: the assets at or under PATH."
    ),
    data: Path | None = typer.Option(
        None, "--data", exists=True, dir_okay=False, help="Fresh data: a file."
    ),
    from_readings: bool = typer.Option(
        False,
        "--from-readings",
        help="Fresh data: stored readings of the assets under PATH, or else of the assets"
        " whose attributes.models name the model.",
    ),
    promote: bool = typer.Option(
        True, "--promote/--no-promote", help="Promote the challenger when it is better."
    ),
) -> None:
    """Train a challenger, compare it with the champion on held-out data, promote if better."""
    from shopfloor.ml.retrain import retrain, retrain_from_readings

    if under is not None and not from_readings:
        fail(f"{under!r}: a PATH goes with --from-readings")
    if from_readings == (data is not None):
        fail("give either --data FILE or --from-readings [PATH]")
    if data is not None:
        decision = _guarded(lambda: retrain(registry(), name, data, promote_if_better=promote))
    else:

        async def work(session: AsyncSession) -> Decision:
            return await retrain_from_readings(
                session,
                _store_of(session),
                registry(),
                name,
                under=under,
                promote_if_better=promote,
            )

        decision = run_unit_of_work("models.retrain", work, write=False)
    verdict = "promoted to champion" if decision.promoted else "kept as challenger"
    typer.echo(f"{name} v{decision.challenger} {verdict}: {decision.reason}")
