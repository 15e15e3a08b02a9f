"""The inner packages never import rclpy, rosbags or the CLI (ARCHITECTURE.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

INNER = ["kuka_sim", "tcn_embedding", "imitation_agent"]
SRC = Path(__file__).resolve().parents[1] / "src"

SCRIPT = """
import importlib, pkgutil, sys
for blocked in ("rclpy", "rosbags", "tcn"):
    sys.modules[blocked] = None  # any import of these now fails
imported = []
for name in {packages!r}:
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
print(len(imported))
"""


def test_inner_packages_import_without_rclpy_rosbags_or_cli():
    present = [name for name in INNER if (SRC / name).is_dir()]
    assert "kuka_sim" in present
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(packages=present)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) >= len(present)
