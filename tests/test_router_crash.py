"""Crash safety: SIGKILL the router at random moments while clients send, restart it, and check
that every acknowledged record is in the tables exactly once.

One data folder and WAL across all trials, so replays pile up on earlier crashes. Each trial
starts the router (one worker, or every fourth trial two workers behind the supervisor — the
supervisor is what gets killed, its workers die with it), lets three clients send batches of
records with unique ids (OTLP to `/v1/logs`, lines to `/v1/raw`), and kills it after a random
delay — sometimes before it is even up (during replay), often while a tiny flush size keeps it
committing. An id counts as acknowledged only when its 200 arrived; ids whose reply was lost
may be present or not, but never twice. At the end a last run is stopped gracefully and the
tables are read.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from pathlib import Path

from test_router_harness import PROTOBUF, Router, free_port, otlp_request, table_rows

TRIALS = 22


class Sender(threading.Thread):
    """Sends batches with fresh ids until stopped; remembers which were acknowledged."""

    def __init__(self, port: int, name: str, raw: bool) -> None:
        super().__init__(daemon=True)
        self.port, self.name, self.raw = port, name, raw
        self.acked: list[str] = []
        self.sent: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        batch = 0
        while not self.stop.is_set():
            ids = [f"{self.name}-b{batch}-r{i}" for i in range(random.randint(1, 60))]
            batch += 1
            self.sent.extend(ids)
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                if self.raw:
                    body, path, headers = (
                        ("\n".join(ids) + "\n").encode(),
                        "/v1/raw?source=crash",
                        {},
                    )
                else:
                    body, path, headers = (
                        otlp_request(ids, f"svc-{batch % 3}"),
                        "/v1/logs",
                        PROTOBUF,
                    )
                connection.request("POST", path, body=body, headers=headers)
                reply = connection.getresponse()
                reply.read()
                if reply.status == 200:
                    self.acked.extend(ids)
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    data = tmp_path / "data"
    port = free_port()
    acked: list[str] = []
    sent: list[str] = []
    for trial in range(TRIALS):
        workers = 2 if trial % 4 == 3 else 1
        flush = (
            "--flush-bytes",
            str(rng.choice([2048, 16384, 1 << 20])),
            "--flush-age",
            str(rng.choice([0.02, 0.1, 0.5])),
        )
        router = Router(data, *flush, workers=workers, port=port)
        senders = [Sender(port, f"t{trial}-c{c}", raw=c == 2) for c in range(3)]
        early = trial % 5 == 1  # killed while starting (replaying), before it serves
        if early:
            router.start_process()
            time.sleep(rng.uniform(0.05, 0.5))
        else:
            router.start()
            for sender in senders:
                sender.start()
            time.sleep(rng.uniform(0.05, 0.8))
        router.kill()
        for sender in senders:
            sender.stop.set()
        for sender in senders:
            if sender.is_alive() or sender.ident is not None:
                sender.join(timeout=15)
            acked.extend(sender.acked)
            sent.extend(sender.sent)
    final = Router(data, port=port).start()
    assert final.stop() == 0, final.output()
    stored = Counter(table_rows(data, "otel").column("body").to_pylist())
    stored.update(table_rows(data, "raw").column("line").to_pylist())
    assert len(acked) > 1000, "the trials acknowledged too little to mean anything"
    missing = [i for i in acked if stored[i] == 0]
    duplicated = [i for i, n in stored.items() if n > 1]
    unknown = set(stored) - set(sent)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    assert not duplicated, f"{len(duplicated)} records stored twice, e.g. {duplicated[:5]}"
    assert not unknown
