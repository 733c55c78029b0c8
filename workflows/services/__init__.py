"""Application services: every action on a case is one function and one transaction (lock, act, run until stable,
write state, projections, ledgers and the audit chain together).

May import `workflows.domain`, `workflows.infra` and `workflows.engine`; SpiffWorkflow instances only through
`runtime.CaseRun`, definitions (parse, validate, serialize) only in `definitions` and `versions`. Never Flask,
Werkzeug, WeasyPrint, `webapp` or `documents`.
"""
