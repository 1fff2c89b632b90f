"""What a streaming detector is, and how its state is kept.

A detector scores one sensor's readings, each from that reading and the ones before it only.
Hyperparameters go to ``__init__``; the learned state is built on the first reading and lives in
one float64 vector, which compiled kernels update in place. Three ways to feed it:

* ``update(t, x)`` scores each reading, then learns it: the streaming use (stage, CLI);
* ``score(t, x)`` gives the same scores without keeping what it learned;
* ``learn(t, x)`` learns without scoring.

``t`` is epoch seconds (float) or ``datetime64``. Scores lie in [0, 1] and mean the same on
every sensor: about ``-log10`` of how rare the reading is against the sensor's own history,
with 1 for one-in-a-million and beyond (see ``kernels``). A reading whose time or value is not a
finite number (or whose value is beyond ±1e150) scores 0 and is not learned.
"""

from __future__ import annotations

import base64
import binascii
import inspect
from abc import ABC, abstractmethod
from functools import cache
from typing import Any, ClassVar

import numpy as np

from shopfloor.core.errors import BadRequest

STATE_VERSION = 1


class UnknownDetector(BadRequest):
    slug, title = "unknown-detector", "Unknown detector"


def as_epoch_seconds(t: Any) -> np.ndarray:
    """Times as float64 epoch seconds, from ``datetime64`` or numbers already in seconds."""
    array = np.asarray(t)
    if np.issubdtype(array.dtype, np.datetime64):
        seconds = array.astype("datetime64[us]").astype(np.int64) / 1e6
        return np.where(np.isnat(array), np.nan, seconds)
    return np.asarray(array, dtype=np.float64)


class Detector(ABC):
    """A streaming anomaly detector for one sensor."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._state: np.ndarray | None = None

    # -- what a detector defines ---------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The hyperparameters, as passed to ``__init__`` (keyword-only, each kept as the
        attribute of its name)."""
        return {name: getattr(self, name) for name in _hyperparameter_names(type(self))}

    def _kernel_params(self) -> tuple[float, ...]:
        """The hyperparameters as a compiled loop takes them: floats, in ``__init__`` order."""
        return tuple(float(value) for value in self.params().values())

    @abstractmethod
    def _new_state(self) -> np.ndarray:
        """A fresh state vector."""

    @abstractmethod
    def _run(self, state: np.ndarray, t: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        """Score each reading into ``out``, then learn it into ``state`` (in place)."""

    # -- arrays --------------------------------------------------------------------------------
    def update(self, t: Any, x: Any) -> np.ndarray:
        """Score each reading, then learn it; returns the scores."""
        times, values = self._inputs(t, x)
        out = np.zeros(len(values))
        self._run(self._live_state(), times, values, out)
        return out

    def score(self, t: Any, x: Any) -> np.ndarray:
        """The scores ``update`` would give, leaving the detector as it was."""
        times, values = self._inputs(t, x)
        out = np.zeros(len(values))
        self._run(self._live_state().copy(), times, values, out)
        return out

    def learn(self, t: Any, x: Any) -> None:
        """Learn the readings without scoring them."""
        self.update(t, x)

    # -- one reading ---------------------------------------------------------------------------
    def update_one(self, t: float, x: float) -> float:
        return float(self.update([t], [x])[0])

    def score_one(self, t: float, x: float) -> float:
        return float(self.score([t], [x])[0])

    def learn_one(self, t: float, x: float) -> None:
        self.update([t], [x])

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_bytes(self) -> int:
        """Bytes of learned state (0 before the first reading)."""
        return 0 if self._state is None else int(self._state.nbytes)

    def state(self) -> dict[str, Any]:
        """A JSON document from which ``from_state`` rebuilds this detector exactly."""
        blob = None
        if self._state is not None:
            blob = base64.b64encode(self._state.astype("<f8").tobytes()).decode("ascii")
        return {
            "detector": self.name,
            "version": STATE_VERSION,
            "params": self.params(),
            "state": blob,
        }

    @classmethod
    def from_state(cls, document: dict[str, Any]) -> Detector:
        """The detector ``state()`` described: same kind, hyperparameters and learned state.

        Anything else (another kind, version or size, a damaged document) is a ``BadRequest``.
        """
        from shopfloor.detection.registry import detector_class

        if not isinstance(document, dict):
            raise BadRequest("a detector state is a JSON object")
        kind = detector_class(str(document.get("detector")))
        if cls is not Detector and kind is not cls:
            raise BadRequest(f"state of detector {kind.name!r} given to {cls.name!r}")
        if document.get("version") != STATE_VERSION:
            raise BadRequest(f"unsupported detector state version {document.get('version')!r}")
        try:
            detector = kind(**document.get("params", {}))
            blob = document.get("state")
            vector = None
            if blob is not None:
                vector = np.frombuffer(base64.b64decode(blob, validate=True), dtype="<f8")
        except (TypeError, ValueError, binascii.Error) as exc:
            raise BadRequest(f"damaged detector state: {exc}") from None
        for name, value in detector.params().items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadRequest(f"damaged detector state: {name} is not a number")
        if vector is not None:
            if vector.shape != detector._new_state().shape or not np.isfinite(vector).all():
                raise BadRequest("detector state does not fit its detector")
            detector._state = vector.astype(np.float64)
        return detector

    # -- internals -----------------------------------------------------------------------------
    def _live_state(self) -> np.ndarray:
        if self._state is None:
            self._state = self._new_state()
        return self._state

    @staticmethod
    def _inputs(t: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
        times = np.ascontiguousarray(as_epoch_seconds(t), dtype=np.float64).reshape(-1)
        values = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        if times.shape != values.shape:
            raise BadRequest(f"{len(times)} times for {len(values)} values")
        return times, values

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@cache
def _hyperparameter_names(kind: type[Detector]) -> tuple[str, ...]:
    signature = inspect.signature(kind.__init__)
    return tuple(
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )
