"""``python -m benchmarks [--quick] [--backends sqlite,postgresql]``: every benchmark in turn.

``make bench`` runs this; docs/benchmarks.md keeps the latest figures and the command.
"""

from __future__ import annotations

import argparse

from benchmarks import (
    detect_speed,
    inference,
    ingest,
    mqtt,
    nab,
    opcua,
    pipeline,
    rollup_query,
    rul,
    sensor_chart,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, rough figures")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    common = ["--backends", args.backends, *(["--quick"] if args.quick else [])]
    ingest.main(common)
    print()
    rollup_query.main(common)
    print()
    sensor_chart.main(common)
    print()
    pipeline.main(common)
    print()
    # The paper-sized HST trees take minutes to build; the quick pass leaves them out.
    nab.main(["--hst", "river-default" if args.quick else "both"])
    print()
    detect_speed.main(["--sensors", "100"] if args.quick else [])
    print()
    mqtt.main(["--quick"] if args.quick else [])
    print()
    opcua.main(["--quick"] if args.quick else [])
    print()
    rul.main(["--quick"] if args.quick else [])
    print()
    inference.main([])


if __name__ == "__main__":
    main()
