"""Hostile and malformed requests for `digitrec serve`, sent alongside normal traffic.

    python -m benchmarks.hostile [--model PATH] [--count 300] [--seed 0] [--workers 1]

Every request goes to a real server on 127.0.0.1 over its own connection; one request in four is
a normal upload whose answer is checked. Prints what came back (status counts) and writes
benchmarks/results/hostile.json. tests/test_hostile.py runs the same with fewer requests.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.machine import machine
from tests.support.hostile_inputs import attack
from tests.support.serverproc import Server

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="`digitrec serve --workers`")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    with Server(
        *(["--model", args.model] if args.model else []),
        "--max-body-bytes",
        "2000000",
        "--max-batch",
        "32",
        "--workers",
        str(args.workers),
    ) as server:
        result = attack(server.port, args.count, args.seed)
        result["workers"] = args.workers
        result["server_alive_after"] = server.alive()
    result["machine"] = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hostile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
