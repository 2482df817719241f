"""The review's drift (issue 14, item 11), kept from coming back: no import cycles (function-level
imports and importlib included), one home for $LLMCTL_HOME, the default state URL and the default
image repository, package docstrings that name modules which exist, and CI that checks the
formatting and type-checks stacks/ too."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "llmctl").rglob("*.py"), *(ROOT / "stacks").rglob("*.py")])


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "stacks":
        parts = ["llmctl", "stacks", *parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every llmctl module `path` imports, at any level of the file."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names = [str(node.args[0].value)]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != mod:
                found.add(name)
    return found


def test_no_import_cycles():
    modules = {_module(p) for p in SOURCES}
    graph = {_module(p): _imports(p, modules) for p in SOURCES}
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for dep in sorted(graph[node]):
                if dep == start:
                    cycles.append(" -> ".join((*path, start)))
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, (*path, dep)))
    assert cycles == []


def _python_sources_with(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return sorted(
        str(p.relative_to(ROOT)) for p in SOURCES if regex.search(p.read_text(encoding="utf-8"))
    )


def test_one_home_for_llmctl_home_the_default_state_and_the_image_repository():
    assert _python_sources_with(r"environ\.get\(\s*\"LLMCTL_HOME\"") == ["llmctl/home.py"]
    assert _python_sources_with(r"llmctl_home\(\) / \"state\"|home\(\) / 'state'") == [
        "llmctl/home.py"
    ]
    assert _python_sources_with(r"\"llmctl/vllm\"") == ["llmctl/image_repository.py"]


def test_package_docstrings_name_modules_that_exist():
    missing = []
    for init in [*(ROOT / "llmctl").rglob("__init__.py"), ROOT / "stacks" / "__init__.py"]:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        for name in re.findall(r"(?<![\w/.])([a-z_]+)\.py\b", doc):
            if not (init.parent / f"{name}.py").exists():
                missing.append(f"{init.relative_to(ROOT)}: {name}.py")
    assert missing == []


def test_ci_checks_formatting_and_type_checks_stacks():
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert re.search(r"ruff format --check llmctl/ stacks/", script)
    assert re.search(r"mypy llmctl/ stacks/", script)
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "format", "--check", "llmctl", "stacks"], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
