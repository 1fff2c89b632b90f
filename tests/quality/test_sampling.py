"""ANSI/ASQ Z1.4 single sampling, normal inspection, general level II: the typed master table
holds together, and known plans come out of it, arrows included."""

from __future__ import annotations

import pytest

from shopfloor.quality.sampling import (
    AQLS,
    DOWN,
    LETTERS,
    MASTER_TABLE,
    SAMPLE_SIZES,
    UP,
    code_letter,
    plan_for,
)

ARROWS = (DOWN, UP)


def test_every_cell_is_an_arrow_or_a_plan_whose_re_is_ac_plus_one():
    assert len(MASTER_TABLE) == 16 and all(len(row) == len(AQLS) for row in MASTER_TABLE.values())
    for row in MASTER_TABLE.values():
        for cell in row:
            if cell not in ARROWS:
                accept, reject = map(int, cell.split("/"))
                assert reject == accept + 1


def test_the_table_is_constant_along_its_diagonals():
    """One row down is a sample about 1.6 times larger, one column left an AQL about 1.6
    times smaller: the standard gives both the same numbers. A typing slip breaks this."""
    for r, letter in enumerate(LETTERS[:-1]):
        for a in range(1, len(AQLS)):
            here, down_left = MASTER_TABLE[letter][a], MASTER_TABLE[LETTERS[r + 1]][a - 1]
            if here not in ARROWS and down_left not in ARROWS:
                assert here == down_left, (letter, AQLS[a])


# Re numbers for AQL 0.65 to 15 at general level II, as an independent quick-reference table
# derived from MIL-STD-105E prints them ("v" and "^" are its arrows).
REFERENCE_AQLS = (0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10, 15)
REFERENCE_RE = {
    "A": "v v v v v 1 ^ v",
    "B": "v v v v 1 ^ v 2",
    "C": "v v v 1 ^ v 2 3",
    "D": "v v 1 ^ v 2 3 4",
    "E": "v 1 ^ v 2 3 4 6",
    "F": "1 ^ v 2 3 4 6 8",
    "G": "^ v 2 3 4 6 8 11",
    "H": "v 2 3 4 6 8 11 15",
    "J": "2 3 4 6 8 11 15 22",
    "K": "3 4 6 8 11 15 22 ^",
    "L": "4 6 8 11 15 22 ^ ^",
    "M": "6 8 11 15 22 ^ ^ ^",
    "N": "8 11 15 22 ^ ^ ^ ^",
    "P": "11 15 22 ^ ^ ^ ^ ^",
    "Q": "15 22 ^ ^ ^ ^ ^ ^",
}


def test_the_table_agrees_with_an_independent_transcription():
    for letter, expected in REFERENCE_RE.items():
        for aql, want in zip(REFERENCE_AQLS, expected.split(), strict=True):
            cell = MASTER_TABLE[letter][AQLS.index(aql)]
            got = cell if cell in ARROWS else cell.split("/")[1]
            assert got == want, (letter, aql)


@pytest.mark.parametrize(
    ("lot_size", "letter"),
    [
        (1, "A"),
        (2, "A"),
        (8, "A"),
        (9, "B"),
        (15, "B"),
        (16, "C"),
        (25, "C"),
        (26, "D"),
        (51, "E"),
        (91, "F"),
        (150, "F"),
        (151, "G"),
        (281, "H"),
        (500, "H"),
        (501, "J"),
        (1200, "J"),
        (1201, "K"),
        (3201, "L"),
        (10000, "L"),
        (10001, "M"),
        (35001, "N"),
        (150001, "P"),
        (500000, "P"),
        (500001, "Q"),
        (10**9, "Q"),
    ],
)
def test_table_one_code_letters_at_level_two(lot_size, letter):
    assert code_letter(lot_size) == letter


# (lot size, AQL) → (code letter used, n, Ac, Re, the lot's own letter), each read off Table II-A.
KNOWN_PLANS = [
    ((1000, 1.0), ("J", 80, 2, 3, "J")),
    # H at 0.65 is an arrow down (H's 0/1 is at 0.25, then up, down, 1/2 at 1.0): J's plan.
    ((500, 0.65), ("J", 80, 1, 2, "H")),
    ((500, 2.5), ("H", 50, 3, 4, "H")),
    ((100, 2.5), ("F", 20, 1, 2, "F")),
    ((10, 1.0), ("E", 13, 0, 1, "B")),  # arrow down through C and D
    ((5000, 4.0), ("L", 200, 14, 15, "L")),
    ((50, 0.065), ("L", 200, 0, 1, "D")),  # arrow down to the first 0/1 of the column
    ((3000, 1.5), ("K", 125, 5, 6, "K")),
    ((200, 6.5), ("G", 32, 5, 6, "G")),
    ((1000, 0.25), ("H", 50, 0, 1, "J")),  # arrow up
    ((1000, 0.40), ("K", 125, 1, 2, "J")),  # arrow down
    ((20000, 0.65), ("M", 315, 5, 6, "M")),
    ((100000, 1.0), ("N", 500, 10, 11, "N")),
    ((600000, 0.010), ("Q", 1250, 0, 1, "Q")),
    ((600000, 0.015), ("P", 800, 0, 1, "Q")),  # arrow up
    ((600000, 0.025), ("R", 2000, 1, 2, "Q")),  # arrow down to the last row
    ((5, 6.5), ("A", 2, 0, 1, "A")),
    ((5, 1000), ("A", 2, 30, 31, "A")),
    ((12, 1000), ("B", 3, 44, 45, "B")),
    ((20, 1000), ("B", 3, 44, 45, "C")),  # arrow up
    ((60, 15), ("E", 13, 5, 6, "E")),
    ((2000, 10), ("K", 125, 21, 22, "K")),
    ((4000, 10), ("K", 125, 21, 22, "L")),  # arrow up
]


@pytest.mark.parametrize(("args", "expected"), KNOWN_PLANS)
def test_known_plans(args, expected):
    plan = plan_for(*args)
    letter, n, accept, reject, lot_letter = expected
    assert (plan.code_letter, plan.sample_size, plan.accept, plan.reject) == (
        letter,
        n,
        accept,
        reject,
    )
    assert plan.lot_letter == lot_letter
    assert plan.moved == (letter != lot_letter)
    assert plan.sample_size == SAMPLE_SIZES[letter]


def test_the_up_arrow_of_the_first_row_takes_the_first_plan_below():
    """Letter A at AQL 10 has an up arrow and no row above: the column's smallest plan."""
    plan = plan_for(8, 10)
    assert (plan.code_letter, plan.sample_size, plan.accept, plan.reject) == ("C", 5, 1, 2)


def test_a_sample_as_large_as_the_lot_means_inspecting_all_of_it():
    plan = plan_for(10, 1.0)
    assert plan.sample_size == 13 and plan.inspect_all and plan.units_to_inspect == 10
    assert not plan_for(1000, 1.0).inspect_all


def test_aqls_are_matched_by_value():
    assert plan_for(1000, 1).aql == 1.0
    assert plan_for(1000, 0.1).aql == 0.10


@pytest.mark.parametrize("aql", [0.7, 0, -1, 2.0, 1001])
def test_an_unknown_aql_is_refused_listing_the_standard_ones(aql):
    with pytest.raises(ValueError, match="standard AQLs") as caught:
        plan_for(1000, aql)
    for allowed in ("0.010", "0.065", "0.65", "1.0", "2.5", "10", "1000"):
        assert allowed in str(caught.value)


def test_a_lot_needs_a_unit():
    with pytest.raises(ValueError, match="lot size"):
        plan_for(0, 1.0)


def test_the_plan_reads_like_the_standard():
    assert plan_for(1000, 1.0).describe() == (
        "plan J (lot 1000, AQL 1.0, Z1.4 level II normal): n=80, Ac 2, Re 3"
    )
    moved = plan_for(10, 1.0).describe()
    assert "plan E" in moved and "moved from B" in moved and "100 % inspection" in moved
