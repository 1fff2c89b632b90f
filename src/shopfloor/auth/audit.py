"""The audit log: a hash chain of entries, appended at commit and checked end to end.

Every entry's ``hash`` covers its own fields and the previous entry's hash, and ``audit_head``
keeps the last sequence number and hash apart from the entries. So an edited entry no longer
matches its hash, a deleted one leaves a gap in ``seq``, and entries cut from the end leave the
head pointing past the last one. ``verify`` finds each of these and names the first bad entry.

Entries are queued on the session (``record`` here, and the ORM hooks of ``audit_hooks``) and
written by ``append`` just before the commit, in the same transaction as the change they
describe: a change and its entry commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from shopfloor.auth.context import acting
from shopfloor.auth.models import AuditEntry, AuditHead
from shopfloor.core.clock import utcnow

GENESIS = "0" * 64  # the previous hash of the first entry
HEAD_ID = 1
# pg_advisory_xact_lock key of the writers of the chain ("SFAUDIT" in ASCII); any constant
# works as long as nothing else in the database uses it.
ADVISORY_LOCK_KEY = 0x53_46_41_55_44_49_54
PENDING = "shopfloor.audit.pending"  # Session.info key of the entries waiting for the commit
# The largest integer a float holds exactly. JSONB turns a float such as 1e20 into the integer
# 100000000000000000000; hashing such numbers as floats keeps the hash stable across that.
EXACT_INT = 2**53
# Column sizes of audit_log: a long value is cut rather than failing the change it records.
LIMITS = {
    "actor": 200,
    "source": 100,
    "request_id": 64,
    "operation": 200,
    "action": 100,
    "target": 200,
}
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry waiting for its transaction's commit."""

    action: str
    target: str
    actor: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    source: str | None = None
    request_id: str | None = None
    operation: str | None = None
    # The (possibly nested) transaction it was queued in: a savepoint rolled back drops it.
    transaction: SessionTransaction | None = None


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found sound before the first problem
    problem: str | None = None
    seq: int | None = None  # the first bad sequence number


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON (dicts with string keys, lists, str, finite numbers, None)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # JSONB refuses NaN and infinities; a string keeps the fact visible.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json_safe(float(value))
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"  # binary payloads are data, not what changed
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def queue(session: Session | AsyncSession, entry: Entry) -> None:
    """Add ``entry`` to what the session writes at its next commit."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(PENDING, []).append(entry)


def record(
    session: Session | AsyncSession,
    *,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    actor: str | None = None,
    source: str | None = None,
) -> None:
    """Queue an event that is not a row change ("auth.login_failed", "auth.refresh_reused").

    Written at the session's commit, with the changes of that transaction. The actor is
    ``actor``, else the one acting now, else "system".
    """
    # Lazily: the hooks module imports this one, and the writer must be in place before commit.
    from shopfloor.auth.audit_hooks import install_audit_hooks

    install_audit_hooks()
    who = acting()
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    queue(
        sync,
        Entry(
            action=action,
            target=target,
            actor=actor or (who.actor if who else "system"),
            before=json_safe(before) if before is not None else None,
            after=json_safe(after) if after is not None else None,
            source=source if source is not None else (who.source if who else None),
            request_id=who.request_id if who else None,
            operation=who.operation if who else None,
            transaction=sync.get_nested_transaction() or sync.get_transaction(),
        ),
    )


def _canonical(value: Any) -> Any:
    """Numbers in one form whichever way the database returns them (see ``EXACT_INT``)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= EXACT_INT else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() and abs(value) <= EXACT_INT else value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's content and its previous hash."""
    document = {
        "seq": row["seq"],
        "at": _iso(row["at"]),
        "actor": row["actor"],
        "source": row["source"],
        "request_id": row["request_id"],
        "operation": row["operation"],
        "action": row["action"],
        "target": row["target"],
        "before": _canonical(row["before"]),
        "after": _canonical(row["after"]),
        "prev_hash": row["prev_hash"],
    }
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def _lock(session: Session) -> None:
    """Make this transaction the only writer of the chain until it ends."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    else:
        # SQLite: a write takes the database's single write lock (writer sessions already hold
        # it from BEGIN IMMEDIATE). Taken before reading the head, so no other writer moves the
        # head between the read and the insert.
        head = AuditHead.__table__
        session.execute(update(head).where(head.c.id == HEAD_ID).values(seq=head.c.seq))


def _cut(value: str | None, field: str) -> str | None:
    return value[: LIMITS[field]] if value is not None else None


def append(session: Session, entries: Sequence[Entry]) -> list[int]:
    """Write ``entries`` at the end of the chain in the session's transaction; their seqs."""
    if not entries:
        return []
    _lock(session)
    head = AuditHead.__table__
    found = session.execute(select(head.c.seq, head.c.hash).where(head.c.id == HEAD_ID)).first()
    seq, prev_hash = (int(found.seq), found.hash) if found else (0, GENESIS)
    at = utcnow()
    rows = []
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor": _cut(entry.actor, "actor") or "system",
            "source": _cut(entry.source, "source"),
            "request_id": _cut(entry.request_id, "request_id"),
            "operation": _cut(entry.operation, "operation"),
            "action": _cut(entry.action, "action"),
            "target": _cut(entry.target, "target"),
            "before": entry.before,
            "after": entry.after,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = entry_hash(row)
        rows.append(row)
    session.execute(insert(AuditEntry.__table__), rows)
    if found:
        session.execute(update(head).where(head.c.id == HEAD_ID).values(seq=seq, hash=prev_hash))
    else:
        session.execute(insert(head).values(id=HEAD_ID, seq=seq, hash=prev_hash))
    return [row["seq"] for row in rows]


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"entry {first} is missing"
    return f"entries {first}\N{EN DASH}{last} are missing"


class _Walk:
    """The chain read so far: where it ends, and the first problem found."""

    def __init__(self) -> None:
        self.seq = 0
        self.hash = GENESIS
        self.checked = 0

    def step(self, row: Mapping[str, Any]) -> VerifyResult | None:
        seq, row_id = row["seq"], row["id"]
        if seq > self.seq + 1:
            return self._bad(_missing(self.seq + 1, seq - 1), self.seq + 1)
        if seq <= self.seq:
            return self._bad(f"entry {seq} (id {row_id}) is out of order", seq)
        if entry_hash(row) != row["hash"]:
            return self._bad(
                f"entry {seq} (id {row_id}) was altered: its hash does not match its content", seq
            )
        if row["prev_hash"] != self.hash:
            return self._bad(
                f"entry {seq} (id {row_id}) does not link to entry {self.seq}: "
                "one of them was altered or replaced",
                seq,
            )
        self.seq, self.hash = seq, row["hash"]
        self.checked += 1
        return None

    def end(self, head: Any) -> VerifyResult:
        if head is None:
            if self.seq == 0:
                return VerifyResult(ok=True, checked=0)
            return self._bad(f"the chain ends at {self.seq} but its head is missing", None)
        if head.seq > self.seq:
            return self._bad(
                f"the chain ends at {self.seq} but its head says {head.seq}: "
                "entries were removed from the end",
                self.seq + 1,
            )
        if head.seq < self.seq:
            return self._bad(
                f"the chain ends at {self.seq} but its head says {head.seq}: the head was "
                "rolled back or entries were added around the log",
                head.seq + 1,
            )
        if head.hash != self.hash:
            return self._bad(
                f"the head's hash does not match entry {self.seq}: the last entry was replaced",
                self.seq,
            )
        return VerifyResult(ok=True, checked=self.checked)

    def _bad(self, problem: str, seq: int | None) -> VerifyResult:
        return VerifyResult(ok=False, checked=self.checked, problem=problem, seq=seq)


async def _snapshot(session: AsyncSession) -> None:
    """Read the whole chain as of one moment, while writers go on appending."""
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        # SQLite's read transaction is a snapshot already; PostgreSQL's default is per statement.
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def verify(
    session: AsyncSession,
    *,
    batch_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Walk the chain in ``seq`` order, ``batch_size`` entries at a time, and check every link.

    ``progress`` hears how many entries each batch held (for a progress bar).
    """
    await _snapshot(session)
    table = AuditEntry.__table__
    walk = _Walk()
    last = 0
    while True:
        query = select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch_size)
        rows = (await session.execute(query)).mappings().all()
        if not rows:
            break
        for row in rows:
            if (problem := walk.step(row)) is not None:
                return problem
        last = rows[-1]["seq"]
        if progress is not None:
            progress(len(rows))
    head = AuditHead.__table__
    found = (await session.execute(select(head).where(head.c.id == HEAD_ID))).first()
    return walk.end(found)


async def head_seq(session: AsyncSession) -> int:
    """The last sequence number the head records (0 for an empty log)."""
    head = AuditHead.__table__
    return int(await session.scalar(select(head.c.seq).where(head.c.id == HEAD_ID)) or 0)


def _match(column: Any, value: str) -> Any:
    """``value`` exactly, or every value that starts with it when it ends with ``*``."""
    if value.endswith("*"):
        prefix = value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(f"{prefix}%", escape="\\")
    return column == value


async def list_entries(
    session: AsyncSession,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first; ``before_seq`` continues a page; ``action``/``target`` take ``x*``."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(_match(AuditEntry.action, action))
    if target is not None:
        query = query.where(_match(AuditEntry.target, target))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    return list((await session.scalars(query)).all())
