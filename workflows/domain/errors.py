"""Domain errors: a stable code for the API and a Chinese message for people."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **({"details": self.details} if self.details else {})}


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class EngineFailure(DomainError):
    code = "engine_error"
    status = 422


class EngineIncident(EngineFailure):
    """The engine failed in a way only an administrator can repair — a script, a timer value, the library itself —
    rather than refusing this input: the action changes nothing and the case is marked as errored (an incident with
    the element and the message) instead of failing the same way on every later step."""

    code = "engine_incident"

    def __init__(self, message: str, *, element_id: str | None = None, element_name: str | None = None):
        super().__init__(message, details={"element_id": element_id} if element_id else None)
        self.element_id = element_id
        self.element_name = element_name
        self.recorded = False  # set once the incident is stored (after the failed transaction was rolled back)


class CaseErrored(Conflict):
    """An action on a case that is marked as errored (it waits for an administrator)."""

    code = "case_errored"


# ---- A BPMN/DMN definition that failed validation or lint (raised by the engine, shown by the modeler) ----
@dataclass
class DefinitionError:
    element_id: str | None
    element_name: str | None
    line: int | None
    message: str
    file: str | None = None

    def __str__(self) -> str:
        return self.message


class DefinitionInvalid(Exception):
    def __init__(self, errors: list[DefinitionError]):
        self.errors = list(errors)
        head = f"流程定义未通过校验（{len(self.errors)} 个问题）"
        super().__init__(head + "：" + "；".join(e.message for e in self.errors[:20]))
