"""Several processes starting at once on an empty database apply the migrations exactly once (issue #21)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from integration.db import current_revision, get_engine, head_revision

ROOT = Path(__file__).resolve().parent.parent
STARTS = 6

# Each process waits on a stdin line before migrating, so all of them have Python and SQLAlchemy loaded and race into
# migrate() together rather than one interpreter start apart.
MIGRATE_ON_GO = "import sys; from integration.db import migrate; sys.stdin.readline(); migrate(sys.argv[1])"


def _start_together(url: str) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE_ON_GO, url], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(STARTS)]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), p.stdout.read(), p.stderr.read())
            for p in procs]


def _assert_migrated_once(url: str, results: list[subprocess.CompletedProcess]) -> None:
    failed = [r.stderr[-2000:] for r in results if r.returncode != 0]
    assert failed == [], f"{len(failed)} of {STARTS} starts failed; the first:\n{failed[:1]}"
    assert current_revision(url) == head_revision()
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_concurrent_starts_on_an_empty_postgres_migrate_once(postgres_url):
    results = _start_together(postgres_url)
    _assert_migrated_once(postgres_url, results)


def test_concurrent_starts_on_a_new_sqlite_file_migrate_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'leadrelay.db'}"
    results = _start_together(url)
    _assert_migrated_once(url, results)
