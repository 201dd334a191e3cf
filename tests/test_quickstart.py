"""docs/quickstart.md runs as written against a live server and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, Server

DOC = ROOT / "docs" / "quickstart.md"


def test_quickstart_prints_what_it_says(server: Server, tmp_path: Path) -> None:
    text = DOC.read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (expected,) = re.findall(r"```text\n(.*?)```", text, flags=re.S)
    code = code.replace("sk_test_...", server.new_account_key())
    code = code.replace("http://127.0.0.1:8080", server.base_url)
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected
