"""The hardware bridge's pure parts: the torque guard, velocity estimates, joint order, the
LBR command. (The bridge against fake drivers is issue 20's next step.)"""

from __future__ import annotations

import numpy as np
import pytest

from tcn.hardware import (
    TORQUE_LIMITS,
    TorqueGuard,
    VelocityEstimator,
    lbr_torque_fields,
    reorder,
)


# --------------------------------------------------------------------------- pure parts
def test_the_guard_clamps_per_joint_and_refuses_bad_commands():
    guard = TorqueGuard(TORQUE_LIMITS["iiwa7"], 0.1)
    torques, reason = guard([100.0, -100.0, 5.0, 0.0, -11.5, 3.9, 4.1])
    np.testing.assert_allclose(torques, [17.6, -17.6, 5.0, 0.0, -11.0, 3.9, 4.0])
    assert reason == "" and guard.clamped == 1
    assert guard([1.0] * 6)[0] is None and guard([np.nan] + [0.0] * 6)[0] is None
    assert "non-finite" in guard([np.inf] * 7)[1] and guard.rejected == 3
    np.testing.assert_allclose(TorqueGuard(TORQUE_LIMITS["iiwa14"], 1.0).bound[:2], 320.0)
    with pytest.raises(ValueError):
        TorqueGuard(TORQUE_LIMITS["iiwa14"], 1.5)


def test_velocities_by_filtered_differences_and_joints_by_name():
    estimate = VelocityEstimator(smoothing=0.5)
    rate = np.arange(1, 8) * 0.1
    for k in range(30):
        velocity = estimate(k * 0.01, rate * k * 0.01)
    np.testing.assert_allclose(velocity, rate, rtol=1e-6)
    names = ["b", "a", "c"]
    np.testing.assert_array_equal(reorder(names, [2.0, 1.0, 3.0], ["a", "b", "c"]), [1, 2, 3])
    assert reorder(names, [], ["a"]) is None and reorder(names, [1.0] * 3, ["z"]) is None


def test_lbr_torque_command_fields():
    fields = lbr_torque_fields(np.arange(7.0), np.full(7, 0.5))
    assert fields == {"torque": list(np.arange(7.0)), "joint_position": [0.5] * 7}
    with pytest.raises(ValueError, match="non-finite"):
        lbr_torque_fields(np.full(7, np.nan), np.zeros(7))
