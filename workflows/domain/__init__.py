"""The domain: models (cases, ledgers, documents), actors, errors, rules R1–R10 with their clauses, the legal clock, the
procedure registry, form validation.

May import: the standard library, SQLAlchemy (typed models), jsonschema, chinese_calendar. Nothing else of
`workflows`, and nothing of SpiffWorkflow, Flask or WeasyPrint.
"""
