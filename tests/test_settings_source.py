"""One place reads the environment: integration/config.py. Everything else takes `get_settings()` (README, Settings)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOLDERS = ("integration", "adapters", "oauth", "marketplace")
FILES = ("app.py", "worker.py")
CONFIG = ROOT / "integration" / "config.py"
# os.environ / os.environb and the functions that read or write the process environment
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _sources() -> list[Path]:
    missing = [name for name in (*FOLDERS, *FILES) if not (ROOT / name).exists()]
    assert missing == [], f"moved or renamed? update this test: {missing}"
    paths = [ROOT / name for name in FILES]
    for folder in FOLDERS:
        found = sorted((ROOT / folder).rglob("*.py"))
        assert found, f"{folder}/ holds no Python file"
        paths += found
    return paths


def _environment_uses(tree: ast.AST) -> list[ast.AST]:
    """Every node that names the environment: os.environ, os.getenv(...), `from os import environ`, environ[…]."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            uses.append(node)
        elif isinstance(node, ast.Name) and node.id in ENVIRONMENT:
            uses.append(node)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & ENVIRONMENT:
            uses.append(node)
    return uses


@pytest.mark.parametrize("source", [
    "import os\nos.environ.get('X')", "import os\nos.getenv('X')", "from os import environ\nenviron['X']",
    "import os as o\no.environ['X'] = '1'", "from os import getenv"])
def test_the_check_sees_every_way_of_reading_the_environment(source):
    assert _environment_uses(ast.parse(source))


def test_nothing_but_integration_config_reads_the_environment():
    paths = _sources()
    assert CONFIG in paths
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in paths if path != CONFIG
             for node in _environment_uses(ast.parse(path.read_text(), filename=str(path)))]
    assert found == [], "take the value from integration.config.get_settings() instead"


def test_config_reads_the_environment_only_when_called_never_at_import():
    tree = ast.parse(CONFIG.read_text())
    in_functions = {id(node) for function in ast.walk(tree)
                    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                    for node in ast.walk(function)}
    uses = _environment_uses(tree)
    assert uses, "integration/config.py reads no environment: this test is looking at the wrong file"
    assert [node.lineno for node in uses if id(node) not in in_functions] == []
