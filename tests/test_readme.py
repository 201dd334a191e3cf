"""The README's examples run as written (with the key and address of a live test server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, Server


def _blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_python_example_runs(server: Server, tmp_path: Path) -> None:
    (code,) = _blocks("python")
    code = code.replace("sk_test_...", server.new_account_key())
    code = code.replace("http://127.0.0.1:8080", server.base_url)
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1250"


def test_two_commands_are_first() -> None:
    first = _blocks("sh")[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make serve", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
