"""The read model's database: engines (SQLite or PostgreSQL) and the Alembic migrations."""
