"""ament_python package ``tcn``: ``colcon build`` and ``pip install -e .`` both work."""

from glob import glob
from os.path import dirname, isfile, relpath

from setuptools import find_packages, setup

PACKAGE = "tcn"


def tree(source: str, target: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file under ``source`` to share/tcn/``target``."""
    entries: dict[str, list[str]] = {}
    for path in sorted(glob(f"{source}/**/*", recursive=True)):
        if isfile(path) and "__pycache__" not in path:
            sub = relpath(dirname(path), source)
            dest = f"share/{PACKAGE}/{target}" + ("" if sub == "." else f"/{sub}")
            entries.setdefault(dest, []).append(path)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *tree("launch", "launch"),
        *tree("config", "config"),
        *tree("description", "description"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tcn maintainers",
    maintainer_email="tcn-maintainers@example.com",
    description="Imitation from video with a Time-Contrastive Network reward on a KUKA iiwa",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "tcn = tcn.cli:main",
            "kuka_sim_node = tcn.nodes.kuka_sim_node:main",
            "demo_player = tcn.nodes.demo_player:main",
            "tcn_embedding_node = tcn.nodes.tcn_embedding_node:main",
            "imitation_agent_node = tcn.nodes.imitation_agent_node:main",
            "hardware_bridge = tcn.nodes.hardware_bridge:main",
        ],
    },
)
