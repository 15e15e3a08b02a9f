"""The outer ring of the stack: ``tcn`` CLI, rosbag2 episodes, ROS 2 nodes and the graph runner."""

__version__ = "0.1.0"
