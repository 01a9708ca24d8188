"""Alembic environment: runs against the engine the caller passes in.

SQLite rebuilds a table to alter it (batch mode); with foreign keys enforced,
dropping a referenced table would fail or cascade. As SQLite asks, foreign
keys are switched off around the migration (outside its transaction) and
checked before it commits.
"""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import db.tables  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            context.run_migrations()
            if sqlite:
                broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
