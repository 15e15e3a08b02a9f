"""The inner packages stay pure (ARCHITECTURE.md): each imports with its forbidden
dependencies made unimportable, and none of those ends up loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROS_AND_CLI = ["rclpy", "rosbags", "tcn"]
FORBIDDEN = {
    "kuka_sim": [*ROS_AND_CLI, "torch", "tcn_embedding", "imitation_agent"],
    "tcn_embedding": [*ROS_AND_CLI, "kuka_sim", "pybullet", "imitation_agent"],
    "imitation_agent": ROS_AND_CLI,
}

SCRIPT = """
import importlib, importlib.abc, pkgutil, sys
FORBIDDEN = {forbidden!r}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"forbidden import: {{name}}")
        return None

sys.meta_path.insert(0, Block())
package = importlib.import_module({package!r})
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
loaded = sorted(n for n in sys.modules if n.split(".")[0] in FORBIDDEN)
assert not loaded, loaded
print(",".join(names))
"""


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_inner_package_imports_without_forbidden_dependencies(package):
    assert (SRC / package).is_dir(), f"src/{package} is missing"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    script = SCRIPT.format(forbidden=FORBIDDEN[package], package=package)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().split(",")) >= 2
