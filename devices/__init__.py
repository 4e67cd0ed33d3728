"""The physical layer: device models, pulses, schedules and their simulation.

JAX runs in float64 throughout the toolkit; this is the one place that turns it on,
before anything else imports jax.numpy.
"""

import jax

jax.config.update("jax_enable_x64", True)

from devices._validate import DeviceModelError  # noqa: E402
from devices.chip import Chip  # noqa: E402
from devices.options import Closed, ExactSteps, Open, QiskitDynamics  # noqa: E402
from devices.pulses import Constant, Drag, Gaussian, GaussianRamp, GaussianSquare, Pulse, Samples  # noqa: E402
from devices.schedule import Barrier, ChannelDelay, Delay, Hold, Play, Schedule, ShiftPhase  # noqa: E402
from devices.simulate import (  # noqa: E402
    basis_state,
    evolve,
    ground_state,
    level_populations,
    populations,
    propagator,
)
from devices.transmon import Transmon  # noqa: E402
from devices.metrics import GateMetrics, coherence_limit, gate_metrics  # noqa: E402

__all__ = [
    "Barrier", "ChannelDelay", "Chip", "Closed", "Constant", "Delay", "DeviceModelError", "Drag", "ExactSteps",
    "GateMetrics", "Gaussian", "GaussianRamp", "GaussianSquare", "Hold", "Open", "Play", "Pulse", "QiskitDynamics", "Samples", "Schedule",
    "ShiftPhase", "Transmon", "basis_state", "coherence_limit", "evolve", "gate_metrics", "ground_state", "level_populations",
    "populations", "propagator",
]
