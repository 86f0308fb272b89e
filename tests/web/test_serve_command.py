"""``vaekit serve``: what it binds, when it warns, the token it enforces; and where web sits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from vaekit import cli

SRC = Path(__file__).resolve().parents[2] / "src" / "vaekit"


@pytest.fixture
def served(monkeypatch):
    """Runs ``vaekit serve ARGS`` with uvicorn.run replaced: returns (exit code, what uvicorn got)."""
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))

    def run(*argv: str) -> tuple[int, dict | None]:
        code = cli.main(["serve", *argv])
        return code, calls[-1] if calls else None

    return run


def test_binds_loopback_by_default(served, runs_root, capsys):
    code, call = served(str(runs_root), "--port", "8123")
    assert code == 0 and call["host"] == "127.0.0.1" and call["port"] == 8123
    out = capsys.readouterr()
    assert "http://127.0.0.1:8123/" in out.out and out.err == ""
    with TestClient(call["app"], base_url="http://127.0.0.1") as c:
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/runs", headers={"host": "attacker.example"}).status_code == 400


def test_another_loopback_address_answers_its_own_name(served, runs_root):
    code, call = served(str(runs_root), "--host", "127.0.0.2")
    with TestClient(call["app"], base_url="http://127.0.0.2:8000") as c:
        assert code == 0 and c.get("/api/runs").status_code == 200


def test_a_public_address_warns_and_the_token_is_enforced(served, runs_root, capsys):
    code, call = served(str(runs_root), "--host", "0.0.0.0", "--token", "tok")
    err = capsys.readouterr().err
    assert code == 0 and call["host"] == "0.0.0.0" and "warning" in err and "needs the token" in err
    with TestClient(call["app"], base_url="http://192.0.2.7:8000") as c:
        assert c.get("/api/runs").status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer tok"}).status_code == 200
    served(str(runs_root), "--host", "0.0.0.0")
    assert "WITHOUT a token" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["/no/such/folder"], "is not a directory"),
        (["{root}", "--port", "0"], "--port"),
        (["{root}", "--max-points", "0"], "must be positive"),
    ],
)
def test_bad_arguments_are_one_line_errors(served, runs_root, capsys, args, needle):
    code, call = served(*[a.format(root=runs_root) for a in args])
    assert code == 1 and call is None and needle in capsys.readouterr().err


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_nothing_imports_web_and_web_imports_no_training_or_commands():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        mods = _imports(path)
        if rel.startswith("web/"):
            assert not {m for m in mods if m.startswith(("vaekit.training", "vaekit.commands", "vaekit.cli"))}, rel
        elif rel != "commands/serve.py":
            assert not {m for m in mods if m.startswith("vaekit.web")}, rel
    assert "fastapi" not in _imports(SRC / "commands" / "serve.py")  # the CLI imports it only to serve
