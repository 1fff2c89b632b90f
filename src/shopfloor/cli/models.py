"""``shopfloor models list|show|promote|rollback|train|predict``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from shopfloor.cli.common import fail, print_table
from shopfloor.config import Settings
from shopfloor.core.errors import ShopfloorError
from shopfloor.ml.registry import Registry, VersionInfo

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


@train_app.command("rul")
def train_rul_command(
    data: Path = DATA,
    data_format: str = FORMAT,
    name: str = typer.Option("rul", "--name", help="Register under this name."),
) -> None:
    """Remaining useful life from run-to-failure histories (C-MAPSS text format)."""
    from shopfloor.ml.training import train_rul_from_file

    if data_format != "cmapss":
        fail(f"--format {data_format!r}: remaining useful life reads cmapss")
    info = _guarded(lambda: train_rul_from_file(registry(), data, name))
    typer.echo(f"registered {name} v{info.version}: {_metrics(info)}")


@train_app.command("failure")
def train_failure_command(
    data: Path = DATA,
    data_format: str = FORMAT,
    name: str = typer.Option("failure", "--name", help="Register under this name."),
) -> None:
    """Failure risk from process measurements (AI4I 2020 CSV format)."""
    from shopfloor.ml.training import train_failure_from_file

    if data_format != "ai4i":
        fail(f"--format {data_format!r}: failure prediction reads ai4i")
    info = _guarded(lambda: train_failure_from_file(registry(), data, name))
    typer.echo(f"registered {name} v{info.version}: {_metrics(info)}")


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
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Fresh data."),
    promote: bool = typer.Option(
        True, "--promote/--no-promote", help="Promote the challenger when it is better."
    ),
) -> None:
    """Train a challenger, compare it with the champion on held-out data, promote if better."""
    from shopfloor.ml.retrain import retrain

    decision = _guarded(lambda: retrain(registry(), name, data, promote_if_better=promote))
    verdict = "promoted to champion" if decision.promoted else "kept as challenger"
    typer.echo(f"{name} v{decision.challenger} {verdict}: {decision.reason}")
