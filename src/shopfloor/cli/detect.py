"""``shopfloor detect score INPUT.csv OUTPUT.csv [--detector NAME]``: score a CSV file offline.

Each row is scored by one detector fed the rows in file order, so a score depends only on its
row and the rows before it. The file formats are ``detection.scorefile``'s. Exit codes: 2 for a
usage error (unknown detector, unreadable input, output folder missing), 1 for bad content (the
message names the line). Heavy modules load inside the command, so the CLI starts fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Score readings with the platform's anomaly detectors.", no_args_is_help=True
)


@app.command("score")
def score(
    input_file: Path = typer.Argument(
        ..., metavar="INPUT.csv", help="CSV file with the header timestamp,value."
    ),
    output_file: Path = typer.Argument(
        ..., metavar="OUTPUT.csv", help="Where to write timestamp,value,anomaly_score."
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        help="Detector name (default: the one the platform uses).",
    ),
) -> None:
    """Score each row of INPUT.csv from that row and the rows before it; write OUTPUT.csv."""
    from shopfloor.detection.base import UnknownDetector
    from shopfloor.detection.registry import make_detector
    from shopfloor.detection.scorefile import (
        USAGE,
        ScoreFileError,
        check_paths,
        parse_times,
        parse_values,
        read_rows,
        write_scores,
    )

    try:
        try:
            scorer = make_detector(detector)
        except UnknownDetector as exc:
            raise ScoreFileError(exc.detail, USAGE) from None
        check_paths(input_file, output_file)
        rows = read_rows(input_file)
        scores = scorer.update(parse_times(rows, input_file), parse_values(rows, input_file))
        write_scores(output_file, rows, scores)
    except ScoreFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.code) from None
    typer.echo(f"scored {len(scores)} rows with {scorer.name!r} into {output_file}")
