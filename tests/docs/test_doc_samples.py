"""Every fenced code block of README.md and docs/*.md runs as written against a live server.

Each page runs against a fresh account of one `metered serve` (tests/conftest.py's `server`),
with the variables the docs tell the reader to set (doc_samples.ENVIRONMENT); bash, Python and
TypeScript blocks run (TypeScript type-checked by tsc against the SDK built from
sdks/typescript, then run by Node), output blocks are compared with what the block above
printed, and a block that cannot run names the test that covers it. See doc_samples.py for the
markers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from doc_samples import (
    ROOT,
    Block,
    differences,
    doc_pages,
    last_block,
    last_json,
    parse_blocks,
    script,
    shown_path,
    split_output,
)

from conftest import Server

SDK = ROOT / "sdks" / "typescript"
TIMEOUT = 180  # seconds for one page's blocks of one language
PAGES = doc_pages()


@pytest.fixture(scope="session")
def typescript_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose node_modules holds @metered/client built from sdks/typescript (once per
    session, outside the source tree): pages' TypeScript goes in folders below it."""
    if not (SDK / "node_modules" / "typescript").is_dir():
        _run_checked(["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK)
    root = tmp_path_factory.mktemp("typescript")
    package = root / "node_modules" / "@metered" / "client"
    package.mkdir(parents=True)
    shutil.copy(SDK / "package.json", package / "package.json")
    _run_checked(["node", str(SDK / "node_modules" / "typescript" / "bin" / "tsc"),
                  "-p", str(SDK / "tsconfig.json"), "--outDir", str(package / "dist"),
                  "--declarationMap", "false", "--sourceMap", "false"], cwd=SDK)
    (root / "node_modules" / "@types").symlink_to(SDK / "node_modules" / "@types")
    return root


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_samples(page: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    blocks = parse_blocks(page)
    problems = [problem for block in blocks for problem in block.problems()]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    runners = list(dict.fromkeys(block.runner for block in blocks if block.runner))
    if not runners:
        return
    server: Server = request.getfixturevalue("server")
    env = {**os.environ, "METERED_BASE_URL": server.base_url,
           "METERED_API_KEY": server.new_account_key(),  # a fresh account per page
           "METERED_DATA_DIR": str(server.data_dir),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1"}
    outputs: dict[int, str] = {}
    for runner in runners:
        mine = [block for block in blocks if block.runner == runner]
        if runner == "typescript":
            workdir = request.getfixturevalue("typescript_sdk") / shown_path(page).replace(
                "/", "_")
            workdir.mkdir()
        else:
            workdir = tmp_path
        outputs |= _run(page, mine, runner, workdir, env)
    _check_outputs(blocks, outputs)


def _run(page: Path, blocks: list[Block], runner: str, workdir: Path,
         env: dict[str, str]) -> dict[int, str]:
    """Runs the page's blocks of one runner; answers each block's stdout by its line."""
    source = script(blocks, runner)
    if runner == "shell":
        path = workdir / f"{page.stem}.sh"
        command = ["bash", str(path)]
    elif runner == "python":
        path = workdir / f"{page.stem}.py"
        command = [sys.executable, str(path)]
    else:
        path = workdir / "page.mts"
        command = ["node", "--enable-source-maps", str(workdir / "page.mjs")]
    path.write_text(source)
    if runner == "typescript":
        _compile_typescript(page, blocks, path)
    rc, stdout, stderr = _run_process(command, workdir, env)
    stdout, stderr = (_name_page(text, path, page) for text in (stdout, stderr))
    if rc != 0:
        failed = last_block(stdout, stderr)
        where = next((b for b in blocks if b.line == failed), blocks[0])
        line = re.search(r"^exit \d+ at line (\d+)$", stderr, flags=re.M)
        command = (f"\n--- line {line[1]} ---\n{page.read_text().splitlines()[int(line[1]) - 1]}"
                   if line else "")
        pytest.fail(f"{where.where}: the {where.language} block failed (exit {rc})\n"
                    f"--- its stdout ---\n{split_output(stdout).get(where.line, stdout)[-4000:]}"
                    f"\n--- its stderr ---\n{split_output(stderr).get(where.line, stderr)[-4000:]}"
                    f"{command}", pytrace=False)
    return split_output(stdout)


def _compile_typescript(page: Path, blocks: list[Block], path: Path) -> None:
    (path.parent / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {
            "target": "ES2022", "lib": ["ES2022"], "module": "NodeNext",
            "moduleResolution": "NodeNext", "strict": True, "types": ["node"],
            "skipLibCheck": True, "sourceMap": True, "outDir": ".",
        },
        "files": [path.name],
    }))
    out = subprocess.run(["node", str(SDK / "node_modules" / "typescript" / "bin" / "tsc"),
                          "-p", str(path.parent)], cwd=path.parent, capture_output=True,
                         text=True, timeout=TIMEOUT)
    if out.returncode != 0:
        errors = _name_page(out.stdout + out.stderr, path, page)
        line = re.search(r"\((\d+),\d+\): error", errors)
        first = int(line[1]) if line else blocks[0].line
        where = max((b for b in blocks if b.line <= first), key=lambda b: b.line,
                    default=blocks[0])
        pytest.fail(f"{where.where}: the {where.language} block does not type-check against "
                    f"the SDK (sdks/typescript):\n{errors}", pytrace=False)


def _run_process(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Runs in a session of its own, so that whatever a sample leaves running is stopped."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_group(process.pid)
        stdout, stderr = process.communicate()
        stderr += f"\n(timed out after {TIMEOUT} s)"
        return -1, stdout, stderr
    _stop_group(process.pid)
    return process.returncode, stdout, stderr


def _stop_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _name_page(text: str, script_path: Path, page: Path) -> str:
    """Errors name the script's lines, which are the page's: name the page."""
    shown = shown_path(page)
    for name in (script_path.as_uri(), str(script_path), script_path.name):
        text = text.replace(name, shown)
    return text


def _check_outputs(blocks: list[Block], outputs: dict[int, str]) -> None:
    for above, block in zip(blocks, blocks[1:], strict=False):
        if block.marker != "output" or above.line not in outputs:
            continue
        printed = outputs[above.line]
        if block.language == "json":
            wrong = differences(json.loads(block.code), last_json(printed))
            if wrong:
                pytest.fail(f"{block.where}: not what the block above ({above.where}) "
                            f"answered: " + "; ".join(wrong) + f"\n--- printed ---\n"
                            f"{printed[-4000:]}", pytrace=False)
        elif printed != block.code:
            pytest.fail(f"{block.where}: the block above ({above.where}) printed something "
                        f"else\n--- shown ---\n{block.code}--- printed ---\n{printed}",
                        pytrace=False)


def test_benchmark_commands_take_their_options() -> None:
    """The benchmark runs take minutes, so the blocks that show them are not run and name this
    test: the scripts they name exist and take the options shown."""
    name = "test_benchmark_commands_take_their_options"
    shown = [(script_name, options) for page in PAGES for block in parse_blocks(page)
             if block.marker == "not-run" and name in block.marker_text
             for script_name, options in re.findall(r"(bench/\S+\.py)([^;\n#]*)", block.code)]
    assert shown, f"no block names {name}"
    for script_name, options in shown:
        usage = _run_checked([sys.executable, script_name, "--help"], cwd=ROOT)
        for option in re.findall(r"--[\w-]+", options):
            assert option in usage, f"{script_name} has no {option} (docs show it)"


def _run_checked(command: list[str], cwd: Path) -> str:
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout

