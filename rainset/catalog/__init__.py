"""The catalog: SQLAlchemy models, engine set-up, migrations and queries."""
