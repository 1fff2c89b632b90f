"""A form as sent, and what the services found wrong with it, by field.

The pages validate with the same models and services as the API; those report problems as
``{"loc": [...], "msg": ...}`` items (a ``ValidationFailed``'s ``errors``, or a pydantic
``ValidationError``). Here they become messages keyed by the name of the input they belong to,
so each is shown next to its field and listed, as links, in the form's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from shopfloor.core.errors import ShopfloorError

# Pydantic puts this before the message of a ValueError raised by a validator.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
Rename = Callable[[str], str]


def field_key(loc: Iterable[Any]) -> str:
    """``["params", "low"]`` → ``params.low``; list indexes point at the list's own field."""
    return ".".join(str(part) for part in loc if part != "body" and not isinstance(part, int))


def clean_message(msg: str) -> str:
    for prefix in _PYDANTIC_PREFIXES:
        if msg.startswith(prefix):
            msg = msg.removeprefix(prefix)
    return msg[:1].upper() + msg[1:] if msg else msg


def sentence(text: str) -> str:
    """A service's detail ("a user named 'x' already exists") as a sentence."""
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A pydantic error as the API's 422 lists it."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


@dataclass
class FormState:
    """What a form shows: the values typed (or stored), and the problems found with them.

    ``form_id`` keeps the ids of several forms on one page apart (``new-user-username``).
    """

    form_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # what went wrong as a whole (a name taken, a last admin)
    labels: dict[str, str] = field(default_factory=dict)  # input name → label, for the summary

    def value(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def values_of(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def input_id(self, name: str) -> str:
        return f"{self.form_id}-{name.replace('.', '-').replace('_', '-')}"

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problem)

    def summary(self) -> list[tuple[str, str, str]]:
        """``(input id, label, message)`` of every field problem, for the summary's links."""
        return [
            (self.input_id(name), self.labels.get(name, name), msg)
            for name, msg in self.errors.items()
        ]

    def add(self, items: Iterable[Mapping[str, Any]], rename: Rename | None = None) -> None:
        """Add the problems of a 422 (``loc``/``msg`` items); a field's several join up."""
        for item in items:
            key = field_key(item.get("loc", ()))
            if rename is not None:
                key = rename(key)
            key = key or "form"
            message = clean_message(str(item.get("msg", "")))
            if key in self.errors and message not in self.errors[key]:
                message = f"{self.errors[key]}; {message[:1].lower()}{message[1:]}"
            self.errors[key] = message

    def refuse(self, exc: ShopfloorError, *, rename: Rename | None = None) -> FormState:
        """Record what the service refused: its field problems, else its detail."""
        if exc.errors:
            self.add(exc.errors, rename)
        else:
            self.problem = exc.detail
        return self


def form_values(
    form: FormData, lists: Iterable[str] = (), untrimmed: Iterable[str] = ()
) -> dict[str, Any]:
    """The form's fields as typed; the names in ``lists`` as lists.

    Text is trimmed, except in ``untrimmed`` fields (passwords: every character counts).
    """
    many, keep = set(lists), set(untrimmed)
    values: dict[str, Any] = {}
    for name in form:
        if name == "csrf_token":
            continue
        if name in many:
            values[name] = [str(v).strip() for v in form.getlist(name) if isinstance(v, str)]
        else:
            raw = form.get(name)
            text = raw if isinstance(raw, str) else ""
            values[name] = text if name in keep else text.strip()
    for name in many:
        values.setdefault(name, [])
    return values


def optional(values: Mapping[str, Any], name: str) -> Any:
    """The value typed into ``name``, or None when it was left empty."""
    value = values.get(name)
    return None if value in (None, "", []) else value


def checked(values: Mapping[str, Any], name: str) -> bool:
    """Whether the checkbox ``name`` was ticked (a ticked box sends its value, any value)."""
    return values.get(name) not in (None, "", "false", "off")
