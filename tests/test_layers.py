"""The house's floors, read from every module's imports (module level and inside functions alike).

workflows.domain  <  workflows.engine, workflows.infra  <  workflows.services  <  webapp
documents stands alone (data in, PDF out). See workflows/__init__.py for what each floor holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workflows", "webapp", "documents")

# A module of the key may import project modules under these prefixes (its own package is always allowed).
ALLOWED: dict[str, tuple[str, ...]] = {
    "workflows.domain": ("workflows.domain",),
    "workflows.engine": ("workflows.domain", "workflows.engine"),
    "workflows.infra": ("workflows.domain", "workflows.infra"),
    "workflows.services": ("workflows.domain", "workflows.infra", "workflows.engine", "workflows.services"),
    "webapp": ("workflows.domain", "workflows.infra", "workflows.services", "webapp", "documents"),
    "documents": ("documents",),
}
# Services reach instances through runtime.CaseRun and definitions through the definition services only.
# simulation: a replay in memory on another definition (no CaseRun: nothing to lock, nothing to save)
ENGINE_DOORS = {
    "workflows.services.runtime",
    "workflows.services.definitions",
    "workflows.services.versions",
    "workflows.services.decisions",
    "workflows.services.simulation",
    "workflows.services.incident_actions",  # repairs an errored instance (engine.repair) inside a CaseRun
}
WEB_OR_PDF = (
    "flask",
    "flask_babel",
    "flask_login",
    "flask_wtf",
    "werkzeug",
    "wtforms",
    "weasyprint",
    "jinja2",
    "webapp",
    "documents",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            if "migrations" in rel.parts:  # Alembic scripts: frozen history, run by Alembic, not imported
                continue
            name = ".".join(rel.parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            # `from package import module` imports the module too
            out += [(node.lineno, f"{module}.{a.name}") for a in node.names if f"{module}.{a.name}" in MODULES]
    return out


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor(name: str) -> str:
    for floor in sorted(ALLOWED, key=len, reverse=True):
        if name == floor or name.startswith(floor + "."):
            return floor
    raise AssertionError(f"{name} belongs to no floor: add it to a package of tests/test_layers.py")


def _is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _project(module: str) -> bool:
    return any(_is_under(module, p) for p in PACKAGES)


def test_every_module_has_a_floor():
    assert not [name for name in MODULES if name != "workflows" and not _floor_or_none(name)]


def _floor_or_none(name):
    try:
        return _floor(name)
    except AssertionError:
        return None


def test_no_upward_or_sideways_import():
    bad = []
    for name, imports in IMPORTS.items():
        if name == "workflows":
            continue
        allowed = ALLOWED[_floor(name)]
        for line, module in imports:
            if _project(module) and module != "workflows" and not any(_is_under(module, p) for p in allowed):
                bad.append(f"{MODULES[name].relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "imports against the floors:\n" + "\n".join(bad)


def test_only_the_engine_package_imports_spiffworkflow():
    bad = [
        f"{MODULES[n].relative_to(ROOT)}:{line} imports {m}"
        for n, imports in IMPORTS.items()
        for line, m in imports
        if _is_under(m, "SpiffWorkflow") and not _is_under(n, "workflows.engine")
    ]
    assert not bad, "\n".join(bad)


def test_services_reach_the_engine_only_through_their_doors():
    bad = [
        f"{MODULES[n].relative_to(ROOT)}:{line} imports {m}"
        for n, imports in IMPORTS.items()
        if _is_under(n, "workflows.services") and n not in ENGINE_DOORS
        for line, m in imports
        if _is_under(m, "workflows.engine")
    ]
    assert not bad, "use services.runtime.CaseRun or services.definitions:\n" + "\n".join(bad)


@pytest.mark.parametrize("library", WEB_OR_PDF)
def test_the_engine_core_imports_no_web_or_pdf_library(library):
    bad = [
        f"{MODULES[n].relative_to(ROOT)}:{line} imports {m}"
        for n, imports in IMPORTS.items()
        if _is_under(n, "workflows")
        for line, m in imports
        if _is_under(m, library)
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles_in_the_engine_core():
    graph = {
        n: {m for _, m in imports if m in MODULES and m != n and _is_under(m, "workflows")}
        for n, imports in IMPORTS.items()
        if _is_under(n, "workflows")
    }
    graph = {n: {m for m in targets if m != "workflows" and not n.startswith(m + ".")} for n, targets in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" → ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)
