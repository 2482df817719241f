"""Files shipped with llmctl: the JSON Schema of llm.yaml and the `llmctl init` templates."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def templates_dir() -> Path:
    """templates/: installed as the package llmctl.templates, or beside llmctl/ in a checkout."""
    try:
        from importlib.resources import files

        installed = Path(str(files("llmctl.templates")))
        if installed.is_dir():
            return installed
    except ModuleNotFoundError:
        pass
    return _HERE.parent / "templates"


def schema_path() -> Path:
    """The bundled llm.schema.json (kept equal to `llmctl schema` by a test)."""
    return _HERE / "schema" / "llm.schema.json"


def init_template(target: str) -> str:
    """The commented llm.yaml that `llmctl init --target TARGET` writes."""
    return (templates_dir() / "init" / f"{target}.yaml").read_text(encoding="utf-8")
