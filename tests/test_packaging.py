"""pyproject.toml's package list covers every package on disk, so an installed llmctl (not only
an editable checkout) has its stacks, templates and every subpackage."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_package_on_disk_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "llmctl").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    on_disk |= {"llmctl.stacks", "llmctl.templates"}
    assert listed == on_disk
    assert config["package-dir"]["llmctl.stacks"] == "stacks"
    assert config["package-dir"]["llmctl.templates"] == "templates"
    assert (ROOT / "stacks" / "__init__.py").is_file() and (ROOT / "templates" / "__init__.py").is_file()
