"""Writes a seed corpus for the decoder's sanitizer run (`make fuzz-native`): realistic
requests (benchmarks/ingest.py), requests from the hypothesis strategies (built through
protobuf and written field by field), deep nesting and the malformed edge cases of
test_native_otlp.py. Usage: python tests/native_corpus.py DIR
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from hypothesis.errors import NonInteractiveExampleWarning

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

from ingest import make_request
from otlp_strategies import requests, wire_requests
from test_native_otlp import groups, nested, test_malformed_and_edge_payloads_agree


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    seeds = [make_request(n, seed, time.time_ns()) for seed, n in enumerate((1, 8, 40))]
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    seeds += [requests().example() for _ in range(150)]
    seeds += [wire_requests().example() for _ in range(150)]
    seeds += [nested(48), nested(49), groups(100), groups(101)]
    marks = test_malformed_and_edge_payloads_agree.pytestmark  # type: ignore[attr-defined]
    seeds += [p.values[0] for mark in marks if mark.name == "parametrize" for p in mark.args[1]]
    for index, seed in enumerate(seeds):
        (folder / f"{index:04d}.bin").write_bytes(seed)
    print(f"{len(seeds)} seeds in {folder}")


if __name__ == "__main__":
    main()
