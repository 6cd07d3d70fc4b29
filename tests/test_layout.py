"""The package's layout: one wing per concern, each importing only downward, small modules and
functions, no import circle, and the public names pinned.

The imports are read with `ast` from the source, so a forbidden arrow fails here whether or not
any test runs the line that imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import digitrec
from tests.support.helpers import REPO

PACKAGE = REPO / "src" / "digitrec"
WINGS = ("data", "reading", "training", "app", "web", "cli")
# What each wing may import besides itself; "root" is the package's own top-level modules.
ALLOWED = {
    "root": {"root"},
    "data": {"root"},
    "reading": {"root"},
    "training": {"root", "reading", "data"},
    "app": {"root", "reading"},
    "web": {"root", "reading"},
    "cli": {"root", *WINGS},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_ROOT_MODULES = 10


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str) -> set[str]:
    """Every digitrec module `path` imports, at any depth (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "digitrec")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "digitrec":
                continue
            found.add(module)
            # `from digitrec.wing import module` imports that module too
            found.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in _modules())
    return found


def _wing(module: str) -> str:
    if module == "digitrec.__main__":  # `python -m digitrec` is the command line
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else "root"


def test_every_wing_imports_only_downward():
    forbidden = []
    for name, path in _modules().items():
        wing = _wing(name)
        for target in _imports(path, name):
            other = _wing(target)
            if other != wing and other not in ALLOWED[wing]:
                forbidden.append(f"{name} -> {target}")
    assert not forbidden, "imports against the layout (docs/design.md):\n" + "\n".join(sorted(forbidden))


def test_the_rule_catches_a_forbidden_arrow(tmp_path):
    """The walk above sees imports inside functions and relative ones (a check of the check)."""
    module = PACKAGE / "reading" / "predictor.py"
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from ..training import train\n    from digitrec.cli import main\n")
    found = _imports(fake, "digitrec.reading.x")
    assert {"digitrec.training.train", "digitrec.cli.main"} <= {m for m in found if m in _modules()}
    assert _wing("digitrec.training.train") == "training" and "training" not in ALLOWED[_wing(_module_name(module))]


def test_no_import_circle():
    graph = {
        name: {t for t in _imports(path, name) if t in _modules() and t != name} for name, path in _modules().items()
    }
    # Package __init__ files hand names on lazily; their arrows to their own modules are not cycles.
    graph = {n: {t for t in ts if not (n != "digitrec" and t.startswith(n + "."))} for n, ts in graph.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*trail, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if start not in state and visit(start, [start]):
            break
    assert not cycle, " -> ".join(cycle)


def test_modules_and_functions_are_small():
    too_long = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, too_long


def test_the_root_holds_only_what_the_wings_share():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root
    wings = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert wings == sorted(WINGS), wings


def test_exit_codes_and_error_labels_live_only_in_the_cli():
    outside = [
        name
        for name, path in _modules().items()
        if _wing(name) != "cli" and any(word in path.read_text(encoding="utf-8") for word in ("exit_code", '"error: "'))
    ]
    assert not outside, outside


def test_the_public_names_are_pinned():
    assert digitrec.__all__ == [
        "DigitrecError",
        "__version__",
        "load_dataset",
        "to_mnist_array",
        "Prediction",
        "NumberPrediction",
        "Predictor",
        "TrainConfig",
        "resolve_config",
        "RunOptions",
        "train_and_evaluate",
    ]
    for name in digitrec.__all__:
        assert getattr(digitrec, name) is not None
    with pytest.raises(AttributeError):
        digitrec.not_a_public_name  # noqa: B018


def test_every_file_the_guides_name_exists():
    """README and docs/ name source files by path (`src/digitrec/training/distribute.py`); a move
    that leaves a guide pointing at the old place fails here. CHANGELOG keeps the old names."""
    import re

    folders = "src/digitrec|benchmarks|scripts|tests|deploy|docs"
    pattern = re.compile(rf"\b(?:{folders})/[\w/.-]+\.(?:py|cfg|toml|yaml|md|json|keras|tflite|png|jpg|sh|txt)\b")
    named = {
        (guide.name, path)
        for guide in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
        for path in pattern.findall(guide.read_text())
    }
    assert len(named) > 50
    assert sorted((guide, path) for guide, path in named if not (REPO / path).exists()) == []


def test_every_module_has_its_line_in_the_design_map():
    """docs/design.md is the map of the package: a module added without its line fails here."""
    import re

    design = (REPO / "docs" / "design.md").read_text()
    modules = [p for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__")]
    assert len(modules) > 50
    assert [str(p.relative_to(PACKAGE)) for p in modules if not re.search(rf"\b{p.stem}\b", design)] == []


def test_every_link_in_the_guides_leads_somewhere():
    """A relative link in README or docs/ names a file that exists, and its #anchor a heading there."""
    import re

    def anchors(page: Path) -> set[str]:
        headings = re.findall(r"^#+\s+(.*)$", page.read_text(), flags=re.MULTILINE)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}

    links = [
        (guide, target, anchor)
        for guide in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([\w-]+))?\)", guide.read_text())
        if not target.startswith(("http://", "https://"))
    ]
    assert len(links) > 30
    broken = [
        (guide.name, target, anchor)
        for guide, target, anchor in links
        if not (page := guide.parent / target if target else guide).exists() or (anchor and anchor not in anchors(page))
    ]
    assert broken == []
