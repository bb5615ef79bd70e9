"""The dependency direction holds: marketplace → (oauth, adapters) → integration, and inside integration/ each
stage imports only the stages below it (LAYERS); no import cycle anywhere, lazy imports included; integration/
knows no framework or SDK; sandbox/ knows nothing of the app. Every folder a check reads must exist: a check
that reads nothing must fail, not pass."""
from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN_IN_INTEGRATION = ("flask", "werkzeug", "hubspot", "simple_salesforce", "pipedrive", "authlib",
                            "adapters", "marketplace", "oauth", "app", "worker", "leadrelay", "sandbox")
APP_PACKAGES = ("integration", "adapters", "oauth", "marketplace", "app", "worker", "leadrelay")


def _sources(package: str) -> list[Path]:
    folder = ROOT / package
    paths = [folder] if folder.suffix == ".py" else sorted(folder.rglob("*.py"))
    assert folder.exists() and paths, f"{package} is missing or empty: the check would pass on nothing"
    return paths


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in _sources(package):
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


def test_adapters_and_oauth_do_not_import_the_web_layer_or_the_cli():
    outer = ("flask", "marketplace", "app", "worker", "leadrelay")
    bad = sorted((f, m) for package in ("adapters", "oauth") for f, m in _imports(package) if m in outer)
    assert bad == []


def test_the_web_app_and_the_worker_do_not_import_the_cli():
    bad = sorted((f, m) for package in ("app.py", "worker.py", "marketplace") for f, m in _imports(package)
                 if m == "leadrelay")
    assert bad == []


# Inside integration/: each unit (a package, or a module directly in integration/) imports only units of a LOWER
# tier (never a sibling of its own tier); TYPE_CHECKING imports, used for annotations only, do not count.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("admin",),  # what the console and the CLI ask: simulations, health, review outcomes, undo, erasure
    ("intake",),  # events in: the event log and its drain, sweep, backfill
    ("pipeline",),  # one lead's flow: normalize, dedup step, qualify, route, write back
    ("outreach",),  # the lead's first response and the handoff rules (a reply, a referral): above follow-up
    ("followup",),  # after routing: SLA, escalation, cadences, lifecycle, stale — never the pipeline
    ("work",),  # the per-tenant work context every stage takes
    ("crm", "dedup", "enrich", "routing"),
    ("rules",),
    ("jobs", "ratelimit", "embedded_redis", "protocols"),
    ("config", "db", "errors", "logs", "models", "queues", "records"),
)
MAX_TOP_LEVEL_MODULES = 12


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement run at run time: at the top or inside functions, not under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) == "TYPE_CHECKING":
            yield from _import_nodes(ast.Module(body=child.orelse, type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _import_nodes(child)


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _runtime_imports(path: Path) -> set[str]:
    """The integration modules `path` imports at run time (top level or inside functions; not TYPE_CHECKING)."""
    found: set[str] = set()
    for node in _import_nodes(_parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(f"{node.module}.{a.name}" if node.module == "integration" else node.module for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("integration.")}


def _integration_unit_edges() -> set[tuple[str, str, str]]:
    edges = set()
    for path in _sources("integration"):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts or rel == Path("integration/__init__.py"):
            continue  # the package's own __init__ only resolves old job paths (integration.jobs)
        source = _unit(".".join(rel.with_suffix("").parts))
        edges |= {(str(rel), source, _unit(target)) for target in _runtime_imports(path) if _unit(target) != source}
    return edges


def test_every_unit_of_integration_is_in_exactly_one_tier_and_every_tier_exists():
    tiers = [unit for tier in LAYERS for unit in tier]
    assert len(tiers) == len(set(tiers))
    present = {p.stem for p in (ROOT / "integration").glob("*.py") if p.stem != "__init__"} | {
        p.name for p in (ROOT / "integration").iterdir() if (p / "__init__.py").exists() and p.name != "migrations"}
    assert present == set(tiers), "a unit of integration/ was added or removed: place it in LAYERS"


def test_integration_imports_point_only_down_its_tiers():
    tier = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}
    edges = _integration_unit_edges()
    assert len(edges) > 40, "the scan found almost no imports: is it reading the tree?"
    upward = sorted((f, s, t) for f, s, t in edges if tier[t] <= tier[s])
    assert upward == [], "an import points up or sideways (move the shared part down, or plan a job by name)"


def test_followup_never_imports_the_pipeline():
    assert sorted(f for f, s, t in _integration_unit_edges() if s == "followup" and t == "pipeline") == []


def test_at_most_a_dozen_modules_directly_in_integration():
    top = sorted(p.name for p in (ROOT / "integration").glob("*.py"))
    assert 0 < len(top) <= MAX_TOP_LEVEL_MODULES, top


PROJECT = ("integration", "adapters", "oauth", "marketplace", "leadrelay", "sandbox", "app.py", "worker.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_graph() -> dict[str, set[str]]:
    paths = [p for package in PROJECT for p in _sources(package) if "migrations" not in p.parts]
    modules = {_module_name(p): p for p in paths}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _import_nodes(_parsed(path)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [known(f"{base}.{a.name}") or base for a in node.names]
            graph[module].update(t for t in (known(t) for t in targets) if t and t != module)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def _in_cycles(graph: dict[str, set[str]]) -> list[str]:
    """The modules that import themselves through others."""
    return sorted(m for m in graph if m in _reachable(graph, m))


def test_no_import_cycle_among_the_projects_modules_lazy_imports_included():
    graph = _project_graph()
    assert len(graph) > 150 and sum(map(len, graph.values())) > 500, "the scan found too little to judge"
    assert _in_cycles(graph) == []


def test_the_cycle_check_sees_a_lazy_import_and_skips_a_type_checking_one(tmp_path, monkeypatch):
    assert _in_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]
    assert _in_cycles({"a": {"b"}, "b": set()}) == []
    lazy = tmp_path / "lazy.py"
    lazy.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from integration.work import Work\n"
                    "def f():\n    from integration.jobs import job\n")
    assert _runtime_imports(lazy) == {"integration.jobs"}


