"""The fenced code blocks of README.md and docs/*.md: found, classified, and run page by page.

A page's blocks of one language run in order in one process (one bash script, one Python
module, one TypeScript module), so a block can use what the blocks above it made; the page's
languages run one after the other, in the order of their first blocks, and share only the
account (a shell variable is not a Python one). The script
is laid out on the page's own line numbers: each block's code sits on its lines of the
Markdown file, and the line of its opening fence announces it (a marker on stdout and stderr),
so a traceback, a tsc error or bash's $LINENO is a line of the page.

A comment on the line above a block says how to treat it:
- `<!-- sample: not-run (covered by tests/x.py::test_y) -->`: the block cannot run here (it
  needs PostgreSQL and Kafka, starts a long-running server...); the named test must exist;
- `<!-- sample: output -->`: the block is what the block above prints (text: exactly; json:
  the last JSON it printed has at least the keys and items shown, with the values shown);
- `<!-- sample: environment -->`: the block only exports the variables the reader sets once
  (ENVIRONMENT), which the test provides instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What every sample may rely on: the reader sets them once (docs/quickstart.md), as the
# `metered` command and the Python client read them.
ENVIRONMENT = ("METERED_BASE_URL", "METERED_API_KEY")

RUNNERS = {
    "bash": "shell", "sh": "shell", "shell": "shell", "console": "shell",
    "python": "python", "py": "python",
    "ts": "typescript", "typescript": "typescript", "js": "typescript",
    "javascript": "typescript", "mjs": "typescript",
}
# Shown, never run: output, data and file formats.
SHOWN = {"text", "txt", "output", "json", "ndjson", "jsonl", "yaml", "yml", "toml", "ini",
         "csv", "diff", "properties", "http", "mermaid"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*sample:\s*(?P<kind>[\w-]+)\s*(?P<rest>.*?)\s*-->\s*$")
_COVERED = re.compile(r"(tests/[\w./-]+\.py)((?:::\w+)+)")


def doc_pages() -> list[Path]:
    """README.md and every docs/*.md, found anew at each collection."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_path(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    lines: tuple[str, ...]  # the code, one entry per line of the page after the fence
    marker: str | None  # "not-run", "output", "environment", or None
    marker_text: str
    answer_shown: bool = False  # the next block is marked output: it may show an error

    @property
    def where(self) -> str:
        return f"{shown_path(self.page)}:{self.line}"

    @property
    def code(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def runner(self) -> str | None:
        if self.marker in ("not-run", "output", "environment"):
            return None
        return RUNNERS.get(self.language)

    def problems(self) -> list[str]:
        """What is wrong with the block without running it."""
        if self.marker is None and not self.language:
            return [f"{self.where}: a code block without a language: say what it is (sh, "
                    f"python, ts to run it; text or json for output)"]
        if self.marker is None and self.language not in RUNNERS | dict.fromkeys(SHOWN):
            return [f"{self.where}: language {self.language!r} is neither run nor shown: add "
                    f"it to RUNNERS or SHOWN in tests/docs/doc_samples.py, or mark the block "
                    f"<!-- sample: not-run (covered by tests/...::test_...) -->"]
        if self.marker == "not-run":
            return _missing_tests(self)
        if self.marker == "environment":
            return _environment_problems(self)
        if self.marker not in (None, "output"):
            return [f"{self.where}: unknown marker <!-- sample: {self.marker} -->"]
        if self.language == "json":
            try:
                json.loads(self.code)
            except ValueError as error:
                return [f"{self.where}: the json block is not JSON ({error}); an abridged "
                        f"shape is a text block"]
        return []


def parse_blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence)
                    and not closing["info"].strip()):
                break
            body.append(_dedent(lines[index], indent))
            index += 1
        start = index - len(body)  # 1-based line of the opening fence
        kind, text = _marker_above(lines, start - 1)
        language = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        blocks.append(Block(page, start, language, tuple(body), kind, text))
        index += 1
    return [replace(block, answer_shown=after is not None and after.marker == "output")
            for block, after in zip(blocks, [*blocks[1:], None], strict=False)]


def _dedent(line: str, indent: int) -> str:
    return line[min(indent, len(line) - len(line.lstrip(" "))):]


def _marker_above(lines: list[str], fence_index: int) -> tuple[str | None, str]:
    """The `<!-- sample: ... -->` comment just above the fence (blank lines between are
    fine), on one line or several."""
    end = fence_index - 1
    while end >= 0 and not lines[end].strip():
        end -= 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None, ""
    start = end
    while start > 0 and "<!--" not in lines[start]:
        start -= 1
    marker = _MARKER.match(" ".join(line.strip() for line in lines[start:end + 1]))
    return (marker["kind"], marker["rest"]) if marker else (None, "")


def _missing_tests(block: Block) -> list[str]:
    pointers = _COVERED.findall(block.marker_text)
    if not pointers:
        return [f"{block.where}: a not-run block must name the test that covers it: "
                f"<!-- sample: not-run (covered by tests/path/test_x.py::test_name) -->"]
    problems = []
    for path, names in pointers:
        file = ROOT / path
        source = file.read_text() if file.is_file() else None
        for name in names.strip(":").split("::"):
            if source is None or not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b",
                                               source, flags=re.M):
                problems.append(f"{block.where}: the covering test {path}::{name} does not "
                                f"exist")
    return problems


def _environment_problems(block: Block) -> list[str]:
    for line in block.lines:
        command = line.split("#")[0].strip()
        name = re.match(r"export\s+(\w+)=", command)
        if command and (not name or name[1] not in ENVIRONMENT):
            return [f"{block.where}: an environment block only exports "
                    f"{', '.join(ENVIRONMENT)}, which the test provides; found {line!r}"]
    return []


def commands(block: Block) -> list[str]:
    """The block's lines as its runner takes them: console prompts dropped, their output
    blanked, so that line numbers stay the page's."""
    if block.language != "console" or not any(line.startswith("$ ") for line in block.lines):
        return list(block.lines)
    kept, continued = [], False
    for line in block.lines:
        if line.startswith("$ ") or continued:
            kept.append(line[2:] if line.startswith("$ ") else line)
            continued = line.rstrip().endswith("\\")
        else:
            kept.append("")
    return kept


# Each runner's preamble (on the first fence's line) and the marker announcing a block.
SHELL_PREAMBLE = (
    "set -Eeuo pipefail; "
    # A request must succeed (curl prints the error body and exits 22 on a 4xx or 5xx) unless
    # the block's answer is shown below it.
    "curl() { if [ $__strict = 1 ]; then command curl --fail-with-body \"$@\"; "
    "else command curl \"$@\"; fi; }; "
    "__sample() { printf '\\036sample %s\\036\\n' \"$1\" | tee /dev/stderr; __strict=$2; }; "
    # The failing command's line: the caller's when it failed in a function (curl).
    "__failed() { [ $BASH_SUBSHELL = 0 ] || return 0; local i=1; "
    "while [ ${FUNCNAME[$i]:-main} != main ]; do i=$((i + 1)); done; "
    "echo \"exit $1 at line ${BASH_LINENO[$((i - 1))]}\" >&2; }; "
    "trap '__failed $?' ERR; "
)
MARKERS = {
    "shell": "__sample {line} {strict}",
    "python": "print('\\036sample {line}\\036', flush=True); "
              "print('\\036sample {line}\\036', file=__import__('sys').stderr, flush=True)",
    "typescript": "console.log('\\u001esample {line}\\u001e'); "
                  "console.error('\\u001esample {line}\\u001e');",
}
PREAMBLES = {"shell": SHELL_PREAMBLE, "python": "", "typescript": ""}
_SPLIT = re.compile(r"\x1esample (\d+)\x1e\n")


def script(blocks: list[Block], runner: str) -> str:
    """One program of the page's `runner` blocks, each on the page's own lines."""
    total = max(block.line + len(block.lines) for block in blocks)
    lines = [""] * (total + 1)
    for position, block in enumerate(blocks):
        preamble = PREAMBLES[runner] if position == 0 else ""
        marker = MARKERS[runner].format(line=block.line, strict=int(not block.answer_shown))
        lines[block.line - 1] = preamble + marker
        lines[block.line:block.line + len(block.lines)] = commands(block)
    return "\n".join(lines) + "\n"


def split_output(output: str) -> dict[int, str]:
    """A run's stdout or stderr cut at the markers: the output of each block by its line."""
    parts = _SPLIT.split(output)
    return {int(line): text for line, text in zip(parts[1::2], parts[2::2], strict=True)}


def last_block(stdout: str, stderr: str) -> int | None:
    """The line of the last block that started."""
    started = [int(line) for line in _SPLIT.findall(stdout) + _SPLIT.findall(stderr)]
    return max(started) if started else None


def differences(shown: object, real: object, path: str = "") -> list[str]:
    """Where a shown JSON answer is not the real one: a key or an item it lacks, or another
    value (a string with "..." in it matches any string that starts and ends the same)."""
    here = path or "(the answer)"
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{here}: not an object"]
        return [difference for key, value in shown.items()
                for difference in ([f"{path}.{key}".lstrip(".") + ": missing"]
                                   if key not in real else
                                   differences(value, real[key], f"{path}.{key}".lstrip(".")))]
    if isinstance(shown, list):
        if not isinstance(real, list) or len(real) < len(shown):
            return [f"{here}: not a list of at least {len(shown)} items"]
        return [difference for index, (a, b) in enumerate(zip(shown, real, strict=False))
                for difference in differences(a, b, f"{path}[{index}]")]
    if isinstance(shown, str) and "..." in shown and isinstance(real, str):
        head, _, tail = shown.partition("...")
        if real.startswith(head) and real.endswith(tail):
            return []
    return [] if shown == real and type(shown) is type(real) else [
        f"{here}: shown {json.dumps(shown)}, answered {json.dumps(real)}"]


def last_json(output: str) -> object:
    """The last JSON document a block printed."""
    decoder, position, found = json.JSONDecoder(), 0, None
    while True:
        start = min((i for i in (output.find("{", position), output.find("[", position))
                     if i >= 0), default=-1)
        if start < 0:
            return found
        try:
            found, position = decoder.raw_decode(output, start)
        except ValueError:
            position = start + 1
