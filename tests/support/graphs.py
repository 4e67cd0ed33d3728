"""A two-node calibration graph (rabi -> fine_amplitude) that runs in seconds.

It has no spectroscopy, so it suits sim-1q devices whose qubit sits close to the design
frequency (seed 2, for one); seed 5, for one, is too far off for fine_amplitude to fit.
"""

AMPLITUDE_GRAPH = """
schema = 1
name = "small"
[nodes.rabi]
timeout_h = 10.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.05 }
check = { experiment = "rabi", shots = 200, options = { points = 25 } }
[[nodes.rabi.calibrate]]
experiment = "rabi"
[nodes.fine_amplitude]
depends_on = ["rabi"]
timeout_h = 10.0
update = { x_amp = "x_amp", sx_amp = "sx_amp" }
tolerance.x_amp = { relative = 0.001 }
check = { experiment = "fine_amplitude", shots = 300, options = { max_repetitions = 10 } }
[[nodes.fine_amplitude.calibrate]]
experiment = "fine_amplitude"
"""
