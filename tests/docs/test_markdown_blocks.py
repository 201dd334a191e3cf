"""doc_samples finds the blocks a reader sees, with their markers, and lays them out on the
page's lines."""

from __future__ import annotations

from pathlib import Path

from doc_samples import commands, differences, parse_blocks, script, split_output

PAGE = """# A page

<!-- sample: not-run (covered by tests/docs/test_markdown_blocks.py::test_blocks_and_markers) -->
```sh
make serve
```

1. A list item:

   ```python
   print("indented")
   ```

~~~~console
$ echo one \\
    two
one two
```not a fence inside a tilde fence
~~~~

<!-- sample: output -->
```text
one two
```

```
no language
```

<!-- sample: not-run
     (covered by tests/nowhere.py::test_nothing) -->
```sql
select 1;
```
"""


def test_blocks_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    not_run, indented, console, output, bare, missing = parse_blocks(page)
    assert (not_run.line, not_run.marker, not_run.runner, not_run.problems()) == (
        4, "not-run", None, [])
    assert (indented.language, indented.lines, indented.runner) == (
        "python", ('print("indented")',), "python")
    assert console.lines[-1] == "```not a fence inside a tilde fence"
    assert commands(console) == ["echo one \\", "    two", "", ""]
    assert console.answer_shown and not indented.answer_shown
    assert (output.marker, output.runner) == ("output", None)
    assert "without a language" in bare.problems()[0]
    assert "tests/nowhere.py::test_nothing does not exist" in missing.problems()[0]


def test_script_keeps_the_page_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    (_, indented, *_) = parse_blocks(page)
    lines = script([indented], "python").splitlines()
    assert lines[indented.line] == 'print("indented")'
    assert "sample 10" in lines[indented.line - 1]
    assert split_output("before\x1esample 10\x1e\nout\n") == {10: "out\n"}


def test_json_differences() -> None:
    shown = {"id": "cus_...", "data": [{"n": 1}], "more": None}
    assert differences(shown, {"id": "cus_123", "data": [{"n": 1}, {"n": 2}], "more": None,
                               "extra": 1}) == []
    assert differences(shown, {"id": "in_1", "data": [], "more": False}) == [
        'id: shown "cus_...", answered "in_1"', "data: not a list of at least 1 items",
        "more: shown null, answered false"]
