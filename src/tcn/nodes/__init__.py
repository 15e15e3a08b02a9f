"""ROS 2 nodes: thin wrappers that convert messages to arrays and call ``kuka_sim``."""
