"""Files the package installs to ``share/tcn`` (config, launch, robot description).

Found in the source tree (editable installs, tests), in ``<prefix>/share/tcn``
(pip and colcon installs), or through the ament index on a ROS 2 installation.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "tcn"


def share_dirs() -> list[Path]:
    dirs = [Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / PACKAGE]
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # noqa: BLE001 - not on a sourced ROS 2 installation
        pass
    return dirs


def share_path(relative: str) -> Path | None:
    """The first existing ``relative`` path among the share directories, or None."""
    for directory in share_dirs():
        candidate = directory / relative
        if candidate.exists():
            return candidate
    return None
