"""The database layer: tables, engine and sessions, array columns, backend differences."""
