"""The read model's database: engines (SQLite or PostgreSQL), the Alembic migrations, the tables and the queries."""
