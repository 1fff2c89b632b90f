"""From a Sparkplug metric to a sensor path, by the connector's path rule.

The rule is a template such as ``{group}/{node}/{device}/{metric}``. The metric name's ``/``
become path segments (Sparkplug names are folders: ``Motor/Speed``). A segment left empty (the
``{device}`` of a node's own metrics, or the ``//`` of a careless name) is dropped; every other
segment is lower-cased, characters outside ``[a-z0-9_-]`` become ``-``, runs of ``-`` collapse
and ``-`` at either end go. A segment with nothing left (``温度``) is refused rather than
dropped: dropping it would give two different metrics the same path.
"""

from __future__ import annotations

import re

from shopfloor.core.paths import path_problem

_PLACEHOLDER = re.compile(r"{(group|node|device|metric)}")
_OUTSIDE = re.compile(r"[^a-z0-9_-]")
_DASHES = re.compile(r"-{2,}")


class PathRefused(ValueError):
    """A metric whose path the rule cannot make; ``str(exc)`` says why."""


def segment(raw: str) -> str:
    """One path segment made of ``raw`` (empty when nothing usable is left)."""
    return _DASHES.sub("-", _OUTSIDE.sub("-", raw.lower())).strip("-")


class PathRule:
    """The path rule of a connector, remembering the paths it made.

    A plant has a bounded set of metrics and every data message names them again, so each
    path is worked out once; the memory is emptied when it grows past ``max_remembered``
    (names that keep changing would otherwise make it grow without end).
    """

    def __init__(self, template: str, *, max_remembered: int = 100_000) -> None:
        if "{metric}" not in template:
            raise ValueError("the path rule must contain {metric}")
        self.template = template
        self.max_remembered = max_remembered
        self._made: dict[tuple[str, str, str, str], str | PathRefused] = {}

    def path(self, group: str, node: str, device: str, metric: str) -> str:
        """The sensor path of a metric; ``device`` is empty for the edge node's own metrics.

        Raises ``PathRefused`` with a reason naming the metric.
        """
        key = (group, node, device, metric)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self.max_remembered:
                self._made.clear()
            made = self._made[key] = self._make(group, node, device, metric)
        if isinstance(made, PathRefused):
            raise made
        return made

    def _make(self, group: str, node: str, device: str, metric: str) -> str | PathRefused:
        values = {"group": group, "node": node, "device": device, "metric": metric}
        # One pass, so a name that itself contains "{node}" is not substituted again.
        rendered = _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.template)
        where = f"{group}/{node}/{device}" if device else f"{group}/{node}"
        segments = []
        for raw in rendered.split("/"):
            if not raw:
                continue
            made = segment(raw)
            if not made:
                return PathRefused(
                    f"metric {metric!r} of {where}: its path segment {raw!r} has no letter, "
                    "digit, '_' or '-' left to keep"
                )
            segments.append(made)
        path = "/".join(segments)
        problem = path_problem(path)
        if problem:
            return PathRefused(f"metric {metric!r} of {where} would be {path!r}: {problem}")
        return path
