"""Automatic audit entries: every row change made while someone is acting (``auth.context``).

Services do nothing for it. Session events on every ``Session`` (and so on every
``AsyncSession``) collect the changes of each flush, describe them as entries
("asset.updated", "asset/7", before, after), and write them at commit in the same transaction
(``audit.append``), so a change and its entry commit or roll back together. Changes made with
no one acting (the pipeline's stages, the notification worker, migrations) are not recorded:
they follow from readings, not from a person's or a machine's request.

Bulk ``UPDATE``/``DELETE`` statements (``session.execute(update(Alarm)...)``, as alarm
transitions and rule renames do) bypass the ORM's change tracking; ``do_orm_execute`` reads the
rows they touch before and after, so they are recorded like ORM changes. Raw SQL
(``text(...)``) and Core ``INSERT`` statements are not seen; no acting path uses them on an
audited table.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Table, event, inspect, select, tuple_
from sqlalchemy.engine import Result
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, SessionTransaction

from shopfloor.auth.audit import PENDING, Entry, append, json_safe, queue
from shopfloor.auth.context import Acting, acting
from shopfloor.storage.base import Base

# Tables whose changes are never recorded, and why. Kept here rather than as a flag on each
# model, so that the audit log's scope is reviewed in one place.
EXCLUDED_TABLES: dict[str, str] = {
    "audit_log": "the log itself",
    "audit_head": "the log's own end marker",
    "refresh_tokens": "rotated on every refresh; sign-ins are recorded as auth.* events",
    "login_throttles": "failed sign-in counters; lockouts are recorded as auth.* events",
    "outbox": "copies of bus events, deleted once published",
    "processed_messages": "the pipeline's record of messages handled",
    "idempotency_keys": "stored responses of create calls; the created rows are recorded",
    "stage_state": "pipeline stage checkpoints (detector baselines), saved continuously",
    "deliveries": "the notification delivery log, written by the worker at alarm rate",
    "readings": "sensor data: high volume, and written with raw SQL",
    "readings_1m": "rollups of readings",
    "readings_1h": "rollups of readings",
    "readings_1d": "rollups of readings",
}
# Bookkeeping that changes on its own (a sign-in, a key's use): an update of these alone is
# noise. Alongside other changes they are kept, as part of what changed.
IGNORED_COLUMNS = frozenset({"updated_at", "last_login_at", "last_used_at", "totp_last_step"})
# Keys of JSON values (a channel's ``config``) that hold credentials.
SECRET_KEYS = frozenset({"secret", "password", "token", "api_key"})
REDACTED = "***"
# A bulk statement touching more rows than this is recorded as one summary entry.
MAX_BULK_ROWS = 500
WHERE_CHARS = 500


def install_audit_hooks() -> None:
    """Register the session events, once per process (calling it again changes nothing)."""
    if event.contains(Session, "before_commit", _before_commit):
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    event.listen(Session, "after_transaction_end", _after_transaction_end)


# --- describing rows -------------------------------------------------------------------------


def _is_secret(column: str) -> bool:
    # password_hash, key_hash, token_hash, totp_secret, secret; not password_changed_at.
    return column.endswith(("hash", "secret", "password"))


def _scrub(value: Any) -> Any:
    """JSON-safe ``value`` with credentials inside JSON documents replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if k.lower() in SECRET_KEYS and v is not None else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _shown(column: str, value: Any) -> Any:
    """What the log keeps of a column's value: a secret only as the fact that it is set."""
    if _is_secret(column):
        return None if value is None else REDACTED
    return _scrub(json_safe(value))


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _entity(mapper: Mapper[Any] | None, table: Table) -> str:
    """A readable singular name: ``__audit_name__``, else the class name in snake_case."""
    if mapper is None:
        mapper = _mapper_of(table)
    if mapper is None:  # a table without a class: its name, singular-ish
        name = table.name
        return name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")
    cls = mapper.class_
    return getattr(cls, "__audit_name__", None) or _CAMEL.sub("_", cls.__name__).lower()


def _mapper_of(table: Table) -> Mapper[Any] | None:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper
    return None


def _key_text(values: tuple[Any, ...]) -> str:
    return ",".join(str(v) for v in values)


def _columns(mapper: Mapper[Any]) -> list[tuple[str, str]]:
    """(attribute key, column name) of every plain column of the class."""
    return [(prop.key, prop.columns[0].name) for prop in mapper.column_attrs]


def _values(state: InstanceState[Any]) -> dict[str, Any]:
    # Loaded values only: reading an unloaded one would query the database mid-flush.
    loaded = state.dict
    return {
        name: _shown(name, loaded[key]) for key, name in _columns(state.mapper) if key in loaded
    }


def _changes(state: InstanceState[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    before, after = {}, {}
    for key, name in _columns(state.mapper):
        history = state.attrs[key].history  # never loads: unloaded values are not changes
        if not history.added and not history.deleted:
            continue
        if history.deleted:  # empty: the old value was never loaded, so it is not known
            before[name] = _shown(name, history.deleted[0])
        after[name] = _shown(name, history.added[0] if history.added else None)
    return before, after


def _primary_key(state: InstanceState[Any]) -> str:
    mapper = state.mapper
    props = [mapper.get_property_by_column(column) for column in mapper.primary_key]
    return _key_text(tuple(state.dict.get(prop.key) for prop in props))


def _entry(
    who: Acting,
    transaction: SessionTransaction | None,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> Entry:
    return Entry(
        action=action,
        target=target,
        actor=who.actor,
        before=before,
        after=after,
        source=who.source,
        request_id=who.request_id,
        operation=who.operation,
        transaction=transaction,
    )


def _current(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


# --- ORM changes -----------------------------------------------------------------------------


def _ours(table: Any) -> bool:
    """An audited table of this platform: not one of the excluded, and not a table of another
    library's database that happens to be written while someone acts (MLflow's registry)."""
    return (
        isinstance(table, Table)
        and table.metadata is Base.metadata
        and table.name not in EXCLUDED_TABLES
    )


def _describe(verb: str, obj: Any) -> tuple[str, str, Any, Any] | None:
    state = inspect(obj)
    table = state.mapper.local_table
    if not _ours(table):
        return None
    entity = _entity(state.mapper, table)
    target = f"{entity}/{_primary_key(state)}"
    if verb == "created":
        return f"{entity}.created", target, None, _values(state)
    if verb == "deleted":
        return f"{entity}.deleted", target, _values(state), None
    before, after = _changes(state)
    if not after.keys() - IGNORED_COLUMNS:
        return None
    return f"{entity}.updated", target, before, after


def _after_flush(session: Session, _flush_context: Any) -> None:
    # The new, dirty and deleted lists and each attribute's history still show what this
    # flush wrote; after it they are reset.
    who = acting()
    if who is None:
        return
    transaction = _current(session)
    for verb, objects in (
        ("created", session.new),
        ("updated", session.dirty),
        ("deleted", session.deleted),
    ):
        for obj in objects:
            described = _describe(verb, obj)
            if described is not None:
                queue(session, _entry(who, transaction, *described))


# --- bulk statements -------------------------------------------------------------------------


def _where_text(state: ORMExecuteState) -> str:
    where = state.statement.whereclause
    if where is None:
        return "all rows"
    dialect = state.session.connection().dialect
    try:
        rendered = where.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    except Exception:  # a value with no literal form: show the placeholders
        rendered = where.compile(dialect=dialect)
    return str(rendered)[:WHERE_CHARS]


def _rows(session: Session, table: Table, where: Any, limit: int | None) -> list[dict[str, Any]]:
    # PostgreSQL: no one changes them between this read and the statement (only this table's
    # rows, when the WHERE joins others). SQLite's writer holds the database already.
    query = select(table).with_for_update(of=table)
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row) for row in session.execute(query).mappings()]


def _by_keys(session: Session, table: Table, keys: list[tuple[Any, ...]]) -> dict[tuple, dict]:
    pk = list(table.primary_key.columns)
    if not keys:
        return {}
    where = pk[0].in_([k[0] for k in keys]) if len(pk) == 1 else tuple_(*pk).in_(keys)
    rows = _rows(session, table, where, None)
    return {tuple(row[c.name] for c in pk): row for row in rows}


def _row_diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict, dict] | None:
    changed = [name for name in new if old.get(name) != new[name]]
    if not set(changed) - IGNORED_COLUMNS:
        return None
    return (
        {name: _shown(name, old.get(name)) for name in changed},
        {name: _shown(name, new[name]) for name in changed},
    )


def _audited(state: ORMExecuteState) -> tuple[Acting, Table] | None:
    """Who acts, and the audited table a bulk UPDATE/DELETE changes; None: not recorded."""
    who = acting()
    if who is None or not (state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    table = mapper.local_table if mapper is not None else state.statement.table
    if not _ours(table):
        return None
    return who, table


def _on_execute(state: ORMExecuteState) -> Result[Any] | None:
    audited = _audited(state)
    if audited is None:
        return None
    who, table = audited
    before = _rows(state.session, table, state.statement.whereclause, MAX_BULK_ROWS + 1)
    summary = _where_text(state) if len(before) > MAX_BULK_ROWS else None
    result = state.invoke_statement()
    rowcount = getattr(result, "rowcount", None)
    if result.returns_rows:
        # The caller's rows must be read before the next statement on this connection.
        result = result.freeze()()
    entity, transaction = _entity(state.bind_mapper, table), _current(state.session)
    verb = "update" if state.is_update else "delete"
    if summary is not None:
        # Too many rows to describe one by one: which rows (the WHERE), and how many.
        where, count = {"where": summary}, {"rows": rowcount}
        action = f"{entity}.bulk_{verb}"
        queue(state.session, _entry(who, transaction, action, f"{entity}/*", where, count))
        return result
    for action, target, old, new in _row_changes(state.session, table, entity, before):
        queue(state.session, _entry(who, transaction, action, target, old, new))
    return result


def _row_changes(
    session: Session, table: Table, entity: str, before: list[dict[str, Any]]
) -> list[tuple[str, str, Any, Any]]:
    """(action, target, before, after) of the rows read ``before`` the statement ran."""
    pk = list(table.primary_key.columns)
    # By key: a WHERE that joins another table may list a row more than once.
    olds = {tuple(row[c.name] for c in pk): row for row in before}
    now = _by_keys(session, table, list(olds))
    changes = []
    for key, old in olds.items():
        target, new = f"{entity}/{_key_text(key)}", now.get(key)
        if new is None:
            values = {name: _shown(name, value) for name, value in old.items()}
            changes.append((f"{entity}.deleted", target, values, None))
        elif (diff := _row_diff(old, new)) is not None:
            changes.append((f"{entity}.updated", target, *diff))
    return changes


# --- writing at commit -----------------------------------------------------------------------


def _before_commit(session: Session) -> None:
    # before_commit runs before the commit's own final flush: flush here so that the changes
    # still pending are described too, then write everything queued, in this transaction.
    if acting() is not None:
        session.flush()
    pending = session.info.pop(PENDING, None)
    if pending:
        append(session, pending)


def _inside(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    # A savepoint rolled back: its changes are gone, and so are their entries.
    pending = session.info.get(PENDING)
    if pending and previous.nested:
        session.info[PENDING] = [e for e in pending if not _inside(e.transaction, previous)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction is over (committed, rolled back or closed): nothing queued in
    # it may reach a later one of the same session.
    if transaction.parent is None:
        session.info.pop(PENDING, None)
