"""ANSI/ASQ Z1.4 (the same tables as MIL-STD-105E and ISO 2859-1): single sampling plans for
normal inspection at general inspection level II.

``plan_for(lot_size, aql)`` finds the sample size code letter of the lot (Table I), then the
acceptance and rejection numbers for the AQL in the master table (Table II-A). Where the table
holds an arrow instead of numbers, the plan is the first one the arrow points at, and the
sample size is that plan's, not the one of the lot's own code letter: both letters are
reported. When the sample size is the lot size or more, the standard asks for 100 % inspection
(``SamplingPlan.inspect_all``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Table I, general inspection level II: the largest lot size of each code letter.
LOT_SIZE_LETTERS: tuple[tuple[int, str], ...] = (
    (8, "A"),
    (15, "B"),
    (25, "C"),
    (50, "D"),
    (90, "E"),
    (150, "F"),
    (280, "G"),
    (500, "H"),
    (1200, "J"),
    (3200, "K"),
    (10000, "L"),
    (35000, "M"),
    (150000, "N"),
    (500000, "P"),
)
LARGEST_LETTER = "Q"  # 500001 and over

# Table II-A: the sample size of each code letter.
SAMPLE_SIZES: dict[str, int] = {
    "A": 2,
    "B": 3,
    "C": 5,
    "D": 8,
    "E": 13,
    "F": 20,
    "G": 32,
    "H": 50,
    "J": 80,
    "K": 125,
    "L": 200,
    "M": 315,
    "N": 500,
    "P": 800,
    "Q": 1250,
    "R": 2000,
}
LETTERS: tuple[str, ...] = tuple(SAMPLE_SIZES)

# The AQL columns of Table II-A, in percent nonconforming (up to 10) or nonconformities per
# hundred units (all of them).
AQLS: tuple[float, ...] = (
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5,
    4.0, 6.5, 10, 15, 25, 40, 65, 100, 150, 250, 400, 650, 1000,
)  # fmt: skip

# Table II-A of ANSI/ASQ Z1.4-2003 (R2013), "Single sampling plans for normal inspection
# (Master table)", identical to MIL-STD-105E Table II-A, typed cell by cell, in two halves of
# 13 AQL columns. Each cell is "Ac/Re"; "v" is the standard's arrow down ("use first sampling
# plan below arrow"), "^" its arrow up ("use first sampling plan above arrow").
_LEFT_AQLS = "0.010 0.015 0.025 0.040 0.065  0.10  0.15  0.25  0.40  0.65   1.0   1.5   2.5"
_LEFT = {
    "A": "    v     v     v     v     v     v     v     v     v     v     v     v     v",
    "B": "    v     v     v     v     v     v     v     v     v     v     v     v     v",
    "C": "    v     v     v     v     v     v     v     v     v     v     v     v   0/1",
    "D": "    v     v     v     v     v     v     v     v     v     v     v   0/1     ^",
    "E": "    v     v     v     v     v     v     v     v     v     v   0/1     ^     v",
    "F": "    v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2",
    "G": "    v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3",
    "H": "    v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4",
    "J": "    v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6",
    "K": "    v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8",
    "L": "    v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11",
    "M": "    v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15",
    "N": "    v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22",
    "P": "    v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^",
    "Q": "  0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^",
    "R": "    ^     ^   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^",
}
_RIGHT_AQLS = "  4.0   6.5    10    15    25    40    65   100   150   250   400   650  1000"
_RIGHT = {
    "A": "    v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31",
    "B": "  0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45",
    "C": "    ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^",
    "D": "    v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^     ^",
    "E": "  1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^     ^     ^",
    "F": "  2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^",
    "G": "  3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^",
    "H": "  5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^",
    "J": "  7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "K": "10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "L": "14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "M": "21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "N": "    ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "P": "    ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "Q": "    ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
    "R": "    ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^",
}
DOWN, UP = "v", "^"


def _master_table() -> dict[str, tuple[str, ...]]:
    columns = tuple(float(aql) for aql in (_LEFT_AQLS + _RIGHT_AQLS).split())
    assert columns == AQLS, "the typed AQL headings differ from AQLS"
    table = {letter: tuple((_LEFT[letter] + " " + _RIGHT[letter]).split()) for letter in LETTERS}
    assert all(len(row) == len(AQLS) for row in table.values()), "a row lost a cell"
    return table


MASTER_TABLE: dict[str, tuple[str, ...]] = _master_table()


@dataclass(frozen=True, slots=True)
class SamplingPlan:
    """A single sampling plan: inspect ``sample_size`` units; accept the lot with at most
    ``accept`` nonconforming units, reject it with ``reject`` or more."""

    code_letter: str  # the letter of the plan used (after following any arrow)
    sample_size: int
    accept: int
    reject: int
    aql: float
    lot_size: int
    lot_letter: str  # the lot size's own code letter (Table I), before any arrow

    @property
    def moved(self) -> bool:
        """True when an arrow led away from the lot's own code letter."""
        return self.code_letter != self.lot_letter

    @property
    def inspect_all(self) -> bool:
        """The sample is the whole lot or more: the standard asks for 100 % inspection."""
        return self.sample_size >= self.lot_size

    @property
    def units_to_inspect(self) -> int:
        return min(self.sample_size, self.lot_size)

    def describe(self) -> str:
        """One line a quality engineer reads as the plan, e.g. "plan J (lot 1000, AQL 1.0,
        Z1.4 level II normal): n=80, Ac 2, Re 3"."""
        moved = f", moved from {self.lot_letter} by the table's arrow" if self.moved else ""
        full = f"; 100 % inspection of the {self.lot_size} units" if self.inspect_all else ""
        return (
            f"plan {self.code_letter} (lot {self.lot_size}, AQL {format_aql(self.aql)}, "
            f"Z1.4 level II normal{moved}): n={self.sample_size}, Ac {self.accept}, "
            f"Re {self.reject}{full}"
        )


def format_aql(aql: float) -> str:
    """An AQL as the standard prints it: 0.010, 0.65, 1.0, 10, 1000."""
    if aql >= 10:
        return f"{aql:g}"
    if aql >= 1:
        return f"{aql:.1f}"
    return f"{aql:.3f}" if aql < 0.1 else f"{aql:.2f}"


def standard_aql(aql: float) -> float:
    """The AQL column ``aql`` names (1 and 1.0 are one column), else ValueError listing them."""
    for column in AQLS:
        if math.isclose(aql, column, rel_tol=1e-9):
            return column
    allowed = ", ".join(format_aql(column) for column in AQLS)
    raise ValueError(f"AQL {aql:g} is not one of the standard AQLs of Z1.4: {allowed}")


def code_letter(lot_size: int) -> str:
    """Table I, general inspection level II. A lot of one unit takes A (the table starts at 2)."""
    if lot_size < 1:
        raise ValueError(f"lot size must be at least 1, not {lot_size}")
    for largest, letter in LOT_SIZE_LETTERS:
        if lot_size <= largest:
            return letter
    return LARGEST_LETTER


def _numbers(cell: str) -> tuple[int, int]:
    accept, reject = cell.split("/")
    return int(accept), int(reject)


def _follow(row: int, column: int) -> int:
    """The row of the first plan the arrow at (row, column) points at.

    One cell of the standard points where the table has no row: the up arrow of code letter A
    at AQL 10, with no plan above it. There we take the first plan below instead (C: n=5,
    Ac 1, Re 2), the smallest plan that column holds.
    """
    step = 1 if MASTER_TABLE[LETTERS[row]][column] == DOWN else -1
    for direction in (step, -step):
        candidate = row
        while 0 <= candidate + direction < len(LETTERS):
            candidate += direction
            if MASTER_TABLE[LETTERS[candidate]][column] not in (DOWN, UP):
                return candidate
    raise AssertionError(f"column {AQLS[column]} of the master table holds no plan")


def plan_for(lot_size: int, aql: float) -> SamplingPlan:
    """The Z1.4 single sampling plan (normal inspection, general level II) for a lot."""
    column = AQLS.index(standard_aql(aql))
    lot_letter = code_letter(lot_size)
    row = LETTERS.index(lot_letter)
    if MASTER_TABLE[lot_letter][column] in (DOWN, UP):
        row = _follow(row, column)
    letter = LETTERS[row]
    accept, reject = _numbers(MASTER_TABLE[letter][column])
    return SamplingPlan(
        code_letter=letter,
        sample_size=SAMPLE_SIZES[letter],
        accept=accept,
        reject=reject,
        aql=AQLS[column],
        lot_size=lot_size,
        lot_letter=lot_letter,
    )
