"""The dependency direction holds: integration/ knows no framework or SDK; sandbox/ knows nothing of the app."""
from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN_IN_INTEGRATION = ("flask", "werkzeug", "hubspot", "simple_salesforce", "pipedrive", "authlib",
                            "adapters", "marketplace", "oauth", "app", "worker", "leadrelay", "sandbox")
APP_PACKAGES = ("integration", "adapters", "oauth", "marketplace", "app", "worker", "leadrelay")


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


def test_integration_source_imports_no_framework_sdk_or_outer_layer():
    bad = sorted((f, m) for f, m in _imports("integration") if m in FORBIDDEN_IN_INTEGRATION)
    assert bad == []


def test_integration_loads_with_flask_and_the_sdks_blocked():
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {FORBIDDEN_IN_INTEGRATION!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pkgutil, importlib, integration\n"
        "for m in pkgutil.walk_packages(integration.__path__, 'integration.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_sandbox_imports_nothing_of_the_app():
    bad = sorted((f, m) for f, m in _imports("sandbox") if m in APP_PACKAGES)
    assert bad == []


def test_sandbox_runs_without_the_app_importable():
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {APP_PACKAGES!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from sandbox.server import SandboxServer\n"
        "s = SandboxServer(port=0).start(); s.stop(); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_adapters_do_not_import_the_web_layer():
    if not (ROOT / "adapters").exists():
        return
    bad = sorted((f, m) for f, m in _imports("adapters") if m in ("flask", "marketplace", "app", "worker"))
    assert bad == []


