"""The `leadrelay` command and its subcommands."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SUBCOMMANDS = ["web", "worker", "sandbox", "demo", "route", "dedup", "tenants", "bench"]


def leadrelay(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leadrelay", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env=env)


def test_help_lists_every_subcommand():
    out = leadrelay("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name} " in out.stdout, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name):
    out = leadrelay(name, "--help")
    assert out.returncode == 0 and "usage: leadrelay" in out.stdout


def test_a_command_of_a_later_issue_says_so_and_fails():
    out = leadrelay("route")
    assert out.returncode == 2
    assert "not available yet" in out.stderr


def test_tenants_list_on_an_empty_install(env):
    import os

    out = leadrelay("tenants", "list", env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert "no tenants yet" in out.stdout


def test_a_bad_setting_is_a_clear_error(env):
    import os

    out = leadrelay("tenants", env={**os.environ, **env, "LEADRELAY_WORKER_CLASS": "threads"})
    assert out.returncode == 2
    assert "LEADRELAY_WORKER_CLASS must be 'simple' or 'fork'" in out.stderr
