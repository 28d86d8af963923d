"""The database: engine and transactions, the tables, Alembic migrations, online backup.

Uses only core/: it knows nothing of mail or of the config files.
"""
