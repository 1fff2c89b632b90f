"""The model registry, on MLflow: an embedded SQLite tracking store and artifact folder in the
data directory by default, or a remote MLflow server (``SHOPFLOOR_MLFLOW_URL``).

Every trained model is logged as a run (parameters, metrics, a fingerprint of its training
data, its input signature) and registered under a name; aliases (``champion``,
``challenger``) point at versions. Promoting moves an alias and remembers where it pointed, so
``rollback`` can move it back. The model files are the model's own (``save``/``load``), kept as
the run's artifacts; the kind (``rul``, ``failure``) is a tag, so loading needs no pickles.
A version may also keep its training reference: a sample of the raw inputs it was trained on,
columns named as an asset's sensors are, which drift of live inputs is measured against.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shopfloor.core.errors import Conflict, NotFound, ShopfloorError

EXPERIMENT = "shopfloor"
KIND_TAG = "shopfloor.kind"
HISTORY_TAG = "shopfloor.alias_history."  # + alias: JSON list of versions, oldest first
REFERENCE_TAG = "shopfloor.reference"  # the reference's artifact path; absent on older versions
REFERENCE_FOLDER, REFERENCE_FILE = "reference", "inputs.parquet"
REFERENCE_ROWS = 5_000  # enough for deciles and a KS test; small enough to read on every check

if TYPE_CHECKING:
    import pandas as pd


class SavableModel(Protocol):
    def save(self, folder: Path) -> None: ...


class RegistryError(ShopfloorError):
    status, slug, title = 502, "model-registry-error", "Model registry error"


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: int
    kind: str
    aliases: list[str]
    run_id: str
    created_at: float  # epoch seconds
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A digest of the training data: the same rows and columns give the same fingerprint."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def signature_of(features: pd.DataFrame) -> dict[str, Any]:
    """The input signature: feature names and types, in order."""
    return {"inputs": [{"name": str(c), "type": str(t)} for c, t in features.dtypes.items()]}


def reference_sample(inputs: pd.DataFrame, rows: int = REFERENCE_ROWS) -> pd.DataFrame:
    """At most ``rows`` rows of ``inputs`` drawn at random (the same draw for the same data),
    in their original order, as float64 columns named as strings."""
    sample = inputs.sample(rows, random_state=0).sort_index() if len(inputs) > rows else inputs
    sample = sample.reset_index(drop=True).astype("float64")
    sample.columns = [str(c) for c in sample.columns]
    return sample


def embedded_uri(data_dir: Path) -> tuple[str, str]:
    """Tracking store and artifact location of the embedded registry."""
    root = (data_dir / "mlflow").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


class Registry:
    def __init__(self, tracking_uri: str, artifact_location: str | None = None) -> None:
        from mlflow import MlflowClient  # importing MLflow costs a second: only when used

        self.tracking_uri = tracking_uri
        self.artifact_location = artifact_location
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_settings(cls, data_dir: Path, mlflow_url: str | None) -> Registry:
        if mlflow_url:
            return cls(mlflow_url)
        tracking, artifacts = embedded_uri(data_dir)
        return cls(tracking, artifacts)

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        return str(self.client.create_experiment(EXPERIMENT, self.artifact_location))

    def log_model(
        self,
        name: str,
        kind: str,
        model: SavableModel,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        fingerprint: str,
        signature: dict[str, Any],
        description: str = "",
        reference: pd.DataFrame | None = None,
    ) -> VersionInfo:
        """Log a run with the model's files and register it as the next version of ``name``.

        ``reference`` is the model's raw training inputs; a sample of them (``reference_sample``)
        is kept with the version and read back by ``reference``.
        """
        from mlflow.exceptions import MlflowException

        run = self.client.create_run(
            self._experiment_id(), tags={KIND_TAG: kind, "shopfloor.model": name}
        )
        run_id = run.info.run_id
        try:
            for key, value in params.items():
                self.client.log_param(run_id, key, value)
            for key, number in metrics.items():
                self.client.log_metric(run_id, key, float(number))
            self.client.set_tag(run_id, "shopfloor.data_fingerprint", fingerprint)
            with tempfile.TemporaryDirectory() as folder:
                model.save(Path(folder))
                (Path(folder) / "signature.json").write_text(json.dumps(signature, indent=1))
                self.client.log_artifacts(run_id, folder, "model")
            version_tags = {KIND_TAG: kind, "shopfloor.data_fingerprint": fingerprint}
            if reference is not None:
                version_tags[REFERENCE_TAG] = self._log_reference(run_id, reference)
            self.client.set_terminated(run_id)
            try:
                self.client.create_registered_model(name, tags={KIND_TAG: kind})
            except MlflowException as exc:
                if "already exists" not in str(exc).lower():
                    raise
            self._check_kind(name, kind)
            version = self.client.create_model_version(
                name,
                f"{run.info.artifact_uri}/model",
                run_id=run_id,
                tags=version_tags,
                description=description,
            )
        except MlflowException as exc:
            self.client.set_terminated(run_id, "FAILED")
            raise RegistryError(f"cannot register {name!r}: {exc.message}") from None
        return self.version(name, int(version.version))

    def _log_reference(self, run_id: str, inputs: pd.DataFrame) -> str:
        with tempfile.TemporaryDirectory() as folder:
            reference_sample(inputs).to_parquet(Path(folder) / REFERENCE_FILE, index=False)
            self.client.log_artifacts(run_id, folder, REFERENCE_FOLDER)
        return f"{REFERENCE_FOLDER}/{REFERENCE_FILE}"

    def reference(self, info: VersionInfo) -> pd.DataFrame | None:
        """The sample of raw training inputs kept with a version; None for a version logged
        without one (before references were kept)."""
        import pandas as pd

        artifact = info.tags.get(REFERENCE_TAG)
        if not artifact:
            return None
        with tempfile.TemporaryDirectory() as folder:
            local = self.client.download_artifacts(info.run_id, artifact, folder)
            return pd.read_parquet(local)

    def _check_kind(self, name: str, kind: str) -> None:
        registered = self.client.get_registered_model(name)
        existing = registered.tags.get(KIND_TAG)
        if existing and existing != kind:
            raise Conflict(f"model {name!r} holds {existing} models, not {kind}")

    def names(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions(self, name: str) -> list[VersionInfo]:
        """Newest first; NotFound when no model has that name."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name='{_quoted(name)}'")
        except MlflowException:  # a name the search cannot even express names no model
            raise NotFound(f"no model named {name!r}") from None
        if not found:
            raise NotFound(f"no model named {name!r}")
        return sorted((self._info(v) for v in found), key=lambda info: info.version, reverse=True)

    def version(self, name: str, version: int) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        try:
            return self._info(self.client.get_model_version(name, str(version)))
        except MlflowException:
            raise NotFound(f"model {name!r} has no version {version}") from None

    def resolve(self, reference: str) -> VersionInfo:
        """``name@alias``, ``name@3`` (a version) or ``name`` (the champion, else the newest)."""
        from mlflow.exceptions import MlflowException

        name, _, which = reference.partition("@")
        if which.isdigit():
            return self.version(name, int(which))
        if which:
            try:
                return self._info(self.client.get_model_version_by_alias(name, which))
            except MlflowException:
                raise NotFound(f"model {name!r} has no version with alias {which!r}") from None
        versions = self.versions(name)
        return next((v for v in versions if "champion" in v.aliases), versions[0])

    def _info(self, version: Any) -> VersionInfo:
        run = self.client.get_run(version.run_id)
        # Version listings leave the aliases out: the registered model has them all.
        aliases = self.client.get_registered_model(version.name).aliases or {}
        return VersionInfo(
            name=version.name,
            version=int(version.version),
            kind=version.tags.get(KIND_TAG, run.data.tags.get(KIND_TAG, "")),
            aliases=sorted(a for a, v in aliases.items() if int(v) == int(version.version)),
            run_id=version.run_id,
            created_at=version.creation_timestamp / 1000,
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags={k: v for k, v in version.tags.items() if not k.startswith("mlflow.")},
            description=version.description or "",
        )

    def promote(self, name: str, version: int, alias: str = "champion") -> VersionInfo:
        """Point ``alias`` at ``version``, remembering where it pointed before."""
        target = self.version(name, version)
        history = self._history(name, alias)
        current = self._alias_version(name, alias)
        if current == version:
            return target
        if current is not None:
            history.append(current)
        self.client.set_registered_model_alias(name, alias, str(version))
        self.client.set_registered_model_tag(name, HISTORY_TAG + alias, json.dumps(history[-50:]))
        return self.version(name, version)

    def rollback(self, name: str, alias: str = "champion") -> VersionInfo:
        """Move ``alias`` back to the version it pointed at before the last promotion."""
        history = self._history(name, alias)
        if not history:
            raise Conflict(f"{name}@{alias} has no earlier version to go back to")
        previous = history.pop()
        self.client.set_registered_model_alias(name, alias, str(previous))
        self.client.set_registered_model_tag(name, HISTORY_TAG + alias, json.dumps(history))
        return self.version(name, previous)

    def _alias_version(self, name: str, alias: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def _history(self, name: str, alias: str) -> list[int]:
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(name).tags
        except MlflowException:
            raise NotFound(f"no model named {name!r}") from None
        return [int(v) for v in json.loads(tags.get(HISTORY_TAG + alias, "[]"))]

    def record(self, name: str, version: int, key: str, value: Any) -> None:
        """A decision or a note on a version (e.g. why a retrain was or was not promoted)."""
        self.client.set_model_version_tag(name, str(version), key, json.dumps(value))

    def load(self, info: VersionInfo, loaders: dict[str, Callable[[Path], Any]]) -> Any:
        """The model object of a version, by its kind's loader."""
        if info.kind not in loaders:
            raise Conflict(f"{info.name} v{info.version} is a {info.kind or 'unknown'} model")
        with tempfile.TemporaryDirectory() as folder:
            local = self.client.download_artifacts(info.run_id, "model", folder)
            return loaders[info.kind](Path(local))


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")
