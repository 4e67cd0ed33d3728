"""Initial schema: runs, node outcomes, the append-only value history, simulated-device states.

A frozen copy of the tables, not an import of schema.py: later revisions change schema.py,
and this revision must still build the schema as it was.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TIME = sa.DateTime(timezone=True)
NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device", NAME, nullable=False),
        sa.Column("device_seed", sa.Integer, nullable=True),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("qubits", sa.Text, nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("started", TIME, nullable=False),
        sa.Column("finished", TIME, nullable=True),
        sa.Column("shots", sa.Integer, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_device", "runs", ["device"])

    op.create_table(
        "node_outcomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("device", NAME, nullable=False),
        sa.Column("qubit", sa.Integer, nullable=False),
        sa.Column("node", NAME, nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("experiment", NAME, nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("device_time_s", sa.Float, nullable=False),
        sa.Column("shots", sa.Integer, nullable=False),
        sa.Column("dataset_path", sa.Text, nullable=True),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("wrote_values", sa.Boolean, nullable=False),
    )
    op.create_index("ix_node_outcomes_key", "node_outcomes", ["device", "qubit", "node"])
    op.create_index("ix_node_outcomes_run", "node_outcomes", ["run_id"])

    op.create_table(
        "parameter_values",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device", NAME, nullable=False),
        sa.Column("qubit", sa.Integer, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("stderr", sa.Float, nullable=True),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("device_time_s", sa.Float, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("outcome_id", sa.Integer, sa.ForeignKey("node_outcomes.id"), nullable=True),
        sa.Column("experiment", NAME, nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_parameter_values_key", "parameter_values", ["device", "qubit", "name", "id"])
    op.create_index("ix_parameter_values_run", "parameter_values", ["run_id"])

    op.create_table(
        "device_states",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", NAME, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
    )
    op.create_index("ix_device_states_key", "device_states", ["key", "id"])


def downgrade() -> None:
    op.drop_table("device_states")
    op.drop_table("parameter_values")
    op.drop_table("node_outcomes")
    op.drop_table("runs")
