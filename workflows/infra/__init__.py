"""Infrastructure: the database engine and sessions (`db`), schema migrations (`migrate`, Alembic scripts in
`migrations/`), reference rows remembered for one transaction (`lookups`).

May import `workflows.domain` and SQLAlchemy/Alembic; not `engine` or `services`.
"""
