"""The parameter store: SQLite file by default, PostgreSQL by URL, schema by Alembic.

    with Store.open("sqlite:///calibration-data/store.sqlite") as store:
        run = store.start_run("sim-5q", command="calibrate run", qubits=[0, 1])
        store.record_node(run, device="sim-5q", qubit=0, node="rabi", action="calibrate", outcome="good",
                          reason="", experiment="rabi", device_time_s=12.0, shots=2000,
                          values={"pi_amp": (0.41, 0.002, "")})
        store.current("sim-5q")   # {(0, "pi_amp"): ParameterValue(...)}
"""

from calibrate.store.records import NodeOutcome, ParameterValue
from calibrate.store.store import Store
from calibrate.store.urls import DEFAULT_STORE_URL, StoreError

__all__ = ["DEFAULT_STORE_URL", "NodeOutcome", "ParameterValue", "Store", "StoreError"]
