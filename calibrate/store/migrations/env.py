"""Alembic environment of the parameter store.

There is no alembic.ini: `calibrate.store.migrate` builds the Config in code and hands over an
open connection, already inside the transaction (and, on PostgreSQL, the advisory lock) that
makes concurrent first opens of one store safe. This file only runs the revisions on it.
"""

from alembic import context

from calibrate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "The store's migrations run on a connection given by calibrate.store.migrate; "
        "open the store with Store.open(url) instead of running alembic directly."
    )
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
