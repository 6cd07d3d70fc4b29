"""Random and malformed uploads to a real `digitrec serve` on loopback, alongside normal traffic:
no 5xx, no crash, normal requests still answered. Bounded in count and time."""

from __future__ import annotations

import pytest

from tests.support.hostile_inputs import attack
from tests.support.serverproc import Server


@pytest.mark.parametrize("workers", ["1", "2"])  # in the server's threads; in worker processes
def test_hostile_uploads_get_4xx_and_the_server_keeps_serving(good_run, workers):
    with Server(
        "--model", str(good_run.run_dir), "--max-body-bytes", "2000000", "--max-batch", "32", "--workers", workers
    ) as server:
        result = attack(server.port, count=90, seed=1, deadline_s=90)
        assert server.alive()
    assert result["hostile"] >= 60
    assert result["server_errors_5xx"] == 0, result["by_kind"]
    assert result["normal_answered_right"] == result["normal_requests"] > 0
    for kind, statuses in result["by_kind"].items():
        for status in statuses:
            if kind == "gif loop of frames":  # a valid (animated) image: its first frame is answered
                assert status == "200", (kind, statuses)
            elif kind == "batch over limit":
                assert status == "413", (kind, statuses)
            elif kind == "huge declared length":  # refused from the header, possibly before the body is sent
                assert status in ("413", "-1"), (kind, statuses)
            else:
                assert 400 <= int(status) < 500, (kind, statuses)
