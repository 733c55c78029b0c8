"""The engine core of 绿色通道: no Flask, no Werkzeug, no WeasyPrint, no `webapp`, no `documents`.

Four floors; a module imports only from its own floor or the floors below it (tests/test_layers.py checks this):

- `domain`   — what the policy and the records are: models, actors, errors, rules R1–R10, the legal clock, the
               procedure registry. Imports nothing else of `workflows`.
- `engine`   — the one door to SpiffWorkflow (instances, restricted scripting, serialization, spec parsing and lint).
               Imports `domain` only. No other package imports SpiffWorkflow.
- `infra`    — database engine and sessions, migrations, per-transaction lookups. Imports `domain` only.
- `services` — the application: every action on a case as one transaction. Imports the three floors below; instances
               are reached only through `services.runtime.CaseRun`, definitions through `services.definitions`.
"""
