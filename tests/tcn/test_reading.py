"""The reading cache's worker processes (tcn.reading)."""

from __future__ import annotations

import pytest

from tcn import reading


def test_a_worker_whose_reader_cannot_be_built_fails_its_task_instead_of_restarting(tmp_path):
    # Raised in the initializer, the error would end the worker and the pool would start
    # another, forever: `tcn read-demos --workers 2` would hang. It is raised by the task.
    missing = tmp_path / "missing.pt"
    reading._WORKER.clear()
    try:
        reading._init_worker(str(missing), "render-compare", None)
        with pytest.raises(Exception) as raised:
            reading._read_in_worker(object())
        assert "missing.pt" in str(raised.value)
    finally:
        reading._WORKER.clear()
