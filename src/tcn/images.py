"""``sensor_msgs/Image`` <-> numpy, without cv_bridge (which does not load with NumPy 2).

One conversion serves bag messages (rosbags dataclasses) and live rclpy messages:
both expose ``encoding``, ``height``, ``width``, ``step`` and ``data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# encoding -> (channels, index of R, G, B within a pixel; None for grey)
ENCODINGS: dict[str, tuple[int, tuple[int, int, int] | None]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, None),
    "8UC3": (3, (0, 1, 2)),
    "8UC1": (1, None),
}


class ImageFormatError(ValueError):
    """An image message this stack cannot interpret (encoding, size or step)."""


def image_to_rgb(msg: Any) -> np.ndarray:
    """Convert an Image message to a ``(H, W, 3)`` uint8 RGB array (a copy).

    Raises:
        ImageFormatError: unsupported encoding, or data that does not match
            ``height``, ``width`` and ``step``.
    """
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    channels, order = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"image has no pixels: {width}x{height}")
    if step < width * channels:
        raise ImageFormatError(
            f"{encoding} image {width}x{height}: step {step} is less than width*channels "
            f"= {width * channels}"
        )
    data = (
        np.frombuffer(memoryview(msg.data), dtype=np.uint8)
        if not isinstance(msg.data, np.ndarray)
        else msg.data.view(np.uint8).reshape(-1)
    )
    if data.size != step * height:
        raise ImageFormatError(
            f"{encoding} image {width}x{height} with step {step} needs {step * height} bytes, "
            f"got {data.size}"
        )
    pixels = data.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if order is None:
        return np.repeat(pixels, 3, axis=2)
    if order == (0, 1, 2) and channels == 3:
        return pixels.copy()
    return np.ascontiguousarray(pixels[..., list(order)])


def rgb_image_fields(rgb: np.ndarray) -> dict[str, Any]:
    """The fields of an ``rgb8`` Image message for a ``(H, W, 3)`` uint8 array."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageFormatError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    height, width, _ = rgb.shape
    return {
        "height": height,
        "width": width,
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": np.ascontiguousarray(rgb).reshape(-1),
    }
