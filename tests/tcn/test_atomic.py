"""Atomic writes: the old file or the complete new one, and no leftovers."""

from __future__ import annotations

import pytest

from tcn.atomic import atomic_path, write_json_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"version": 2, "trunc')
        raise RuntimeError("interrupted mid-write")
    assert target.read_text() == '{\n  "version": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    write_json_atomic(target, {"version": 2})
    assert '"version": 2' in target.read_text()
