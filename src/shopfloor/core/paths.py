"""Asset and sensor paths: lower-case ISA-95 segments joined by ``/``, at most 8 deep."""

from __future__ import annotations

import re

from shopfloor.core.errors import ValidationFailed

MAX_DEPTH = 8
MAX_LENGTH = 255  # the width of the path columns
_SEGMENT = re.compile(r"[a-z0-9_-]+")
ASSET_KINDS = ("site", "area", "line", "cell", "machine")


def path_problem(path: object) -> str | None:
    """Why ``path`` is not a valid path, or None when it is."""
    if not isinstance(path, str) or not path:
        return "path must be a non-empty string"
    if len(path) > MAX_LENGTH:
        return f"path has {len(path)} characters; at most {MAX_LENGTH} are allowed"
    segments = path.split("/")
    if len(segments) > MAX_DEPTH:
        return f"path has {len(segments)} segments; at most {MAX_DEPTH} are allowed"
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            return f"segment {segment!r} must match [a-z0-9_-]+"
    return None


def checked_under(under: str | None) -> str | None:
    """The ``?under=`` query parameter, refused with 422 when it is not a path."""
    if under is not None and (problem := path_problem(under)):
        raise ValidationFailed(
            problem, errors=[{"loc": ["query", "under"], "msg": problem, "type": "value_error"}]
        )
    return under


def parent_path(path: str) -> str | None:
    head, sep, _ = path.rpartition("/")
    return head if sep else None


def ancestors(path: str) -> list[str]:
    """Every proper ancestor, shortest first: ``a/b/c`` → ``["a", "a/b"]``."""
    segments = path.split("/")
    return ["/".join(segments[:i]) for i in range(1, len(segments))]


def subtree_bounds(path: str) -> tuple[str, str]:
    """Half-open string range ``[lo, hi)`` holding exactly the descendants of ``path``.

    ``/`` sorts just before ``0`` and no segment character sorts between them, so a plain
    range scan on the path index finds the subtree without LIKE and its wildcard escaping.
    """
    return path + "/", path + "0"


def default_kind_for_depth(depth: int) -> str:
    return ASSET_KINDS[min(depth, len(ASSET_KINDS)) - 1]
