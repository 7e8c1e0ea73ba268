"""Storage adapters: SQLAlchemy models, engine, migrations."""
