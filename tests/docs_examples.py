"""Executable documentation: the console and Python examples of README.md and docs/*.md.

A fenced block marked ``console`` holds commands after ``$ `` (each must start with
``sparsim``, optionally after ``NAME=value`` environment settings) followed by the output
they print, stdout and stderr together. A block marked ``python`` or ``pycon`` holds
``>>>`` examples in doctest form, compared with what they print (a ``python`` block
without ``>>>`` must run without error). ``sh`` blocks are instructions, never run, and so
is a ``python`` block whose first line is ``# not run: <why>`` (code that needs a GPU or
torch, which the tests do not have).
Commands run in process, in a scratch folder that links to the repository's top-level
entries (so ``sparsim/validate/data/...`` resolves and ``--out`` lands in the scratch).

An expected output matches the real one when, line by line:

* a line that is only ``...`` stands for any number of lines (zero included);
* ``...`` inside a line stands for any text;
* numbers agree within ``RTOL`` (1%) relative, or one unit in the last printed digit for
  a number with decimals or a percentage (printed rounding), and everything else is
  equal (trailing spaces ignored). A number glued to a word (``fp16``, ``h200``,
  ``2026-11-29``) is text.

So a change of the model that moves a documented figure by more than 1% fails the tests
until the docs move too. To move them, run from the repository root::

    python tests/docs_examples.py --update            # README.md and docs/*.md
    python tests/docs_examples.py --update README.md  # one file
    python tests/docs_examples.py                     # check only; exit 1 on a mismatch

``--update`` rewrites each expected output from the real one: where the text still
matches it replaces only the numbers (keeping elided lines and ``...``), otherwise it
writes the whole real output and says so (elide by hand if wanted).

>>> line_matches("time per call     25.51 us", "time per call     25.60 us")
True
>>> line_matches("time per call     25.51 us", "time per call     26.51 us")
False
>>> match(["a 1", "...", "z 2.00"], ["a 1", "b", "c", "z 2.01"]) is not None
True
"""

from __future__ import annotations

import argparse
import contextlib
import doctest
import io
import os
import re
import shlex
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: relative tolerance on every documented number
RTOL = 0.01
ELLIPSIS = "..."
CONSOLE = ("console", "shell-session")
PYTHON = ("python", "pycon", "py")

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w-]*)")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_CAPTURE = r"([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_BEFORE = set(" \t([{=:;,/'\"<>~")
_AFTER = set(" \t)]}:;,/'\"%x")


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md: the files whose examples the tests run."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.exists()]


@dataclass(frozen=True)
class Example:
    """One command or ``>>>`` example: where it is, what runs, what it should print.

    ``want_lines`` are the file's 0-based line numbers [first, end) of the expected output.
    """

    path: Path
    line: int  # 1-based, of the ``$`` or ``>>>`` line
    kind: str  # "console" | "python" | "python-block" (no >>>: must run)
    source: str
    want: tuple[str, ...]
    want_lines: tuple[int, int]

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"


def _blocks(lines: list[str]):
    """(language, index of the first content line, content lines) of each fenced block."""
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, marker, lang = len(fence.group(1)), fence.group(2), fence.group(3).lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(marker):
            j += 1
        yield lang, i + 1, [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1:j]]
        i = j + 1


def _strip_trailing_blank(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def examples(path: Path) -> list[Example]:
    """Every runnable example of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    for lang, first, block in _blocks(lines):
        if lang in CONSOLE:
            starts = [i for i, line in enumerate(block) if line.startswith("$ ")]
            if not starts:
                raise ValueError(f"{path.name}:{first}: a console block without a '$ ' command")
            for s, e in zip(starts, [*starts[1:], len(block)]):
                command, out = block[s][2:], s + 1
                while command.endswith("\\") and out < e:  # continued command line
                    command, out = command[:-1] + " " + block[out].strip(), out + 1
                want = _strip_trailing_blank(block[out:e])
                found.append(Example(path, first + s + 1, "console", command, tuple(want),
                                     (first + out, first + out + len(want))))
        elif lang in PYTHON:
            if block and block[0].startswith("# not run:"):
                continue
            text = "\n".join(block) + "\n"
            parsed = doctest.DocTestParser().get_examples(text)
            if not parsed:
                found.append(Example(path, first + 1, "python-block", text, (), (first, first)))
            for ex in parsed:
                want = ex.want.rstrip("\n").split("\n") if ex.want else []
                start = first + ex.lineno + ex.source.count("\n")
                found.append(Example(path, first + ex.lineno + 1, "python", ex.source, tuple(want),
                                     (start, start + len(want))))
    return found


# -- comparing -----------------------------------------------------------------------------

def _tokens(text: str) -> list[tuple[str, str]]:
    """("text" | "number", piece) of an expected line's text between ``...``s."""
    out, pos = [], 0
    for m in _NUMBER.finditer(text):
        s, e = m.span()
        before = text[s - 1] if s else " "
        after = text[e] if e < len(text) else " "
        glued_before = before not in _BEFORE and not (before == "x" and s >= 2 and text[s - 2].isdigit())
        nxt = text[e + 1] if e + 1 < len(text) else " "
        glued_after = after not in _AFTER and not (after in "-." and not nxt.isdigit())
        if glued_before or glued_after:
            continue
        out.append(("text", text[pos:s]))
        out.append(("number", m.group()))
        pos = e
    out.append(("text", text[pos:]))
    return [t for t in out if t[1] or t[0] == "number"]


def _pattern(want: str) -> tuple[re.Pattern, list[str]]:
    """A regex of an expected line (numbers captured, ``...`` any text) and its numbers."""
    parts, numbers = [], []
    for i, piece in enumerate(want.split(ELLIPSIS)):
        if i:
            parts.append(".*?")
        for kind, text in _tokens(piece):
            if kind == "number":
                parts.append(_CAPTURE)
                numbers.append(text)
            else:
                parts.append(re.escape(text))
    return re.compile("".join(parts)), numbers


def _value(text: str) -> float:
    return float(text.replace(",", ""))


def _slack(text: str, percent: bool) -> float:
    """One unit in the last printed digit of a number with decimals (or a percentage)."""
    mantissa, _, exponent = text.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    if not decimals and not exponent and not percent:
        return 0.0
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_agree(want: str, got: str, percent: bool = False, rtol: float = RTOL) -> bool:
    """A documented number and a printed one agree within the tolerance (module docstring)."""
    w, g = _value(want), _value(got)
    return abs(g - w) <= max(rtol * abs(w), _slack(want, percent)) * (1 + 1e-9)


def line_matches(want: str, got: str, rtol: float = RTOL, structure_only: bool = False) -> bool:
    """One expected line against one printed line (``structure_only``: any numbers)."""
    return _line_numbers(want, got, rtol, structure_only) is not None


def _line_numbers(want: str, got: str, rtol: float, structure_only: bool):
    """The printed numbers in the places of the expected ones, or None if no match."""
    want, got = want.rstrip(), got.rstrip()
    if want == got:
        return _pattern(want)[1]
    pattern, wanted = _pattern(want)
    m = pattern.fullmatch(got)
    if not m:
        return None
    printed = list(m.groups())
    if not structure_only:
        ends = [m.end(i + 1) for i in range(len(printed))]
        for w, g, end in zip(wanted, printed, ends):
            if not numbers_agree(w, g, got[end:end + 1] == "%", rtol):
                return None
    return printed


def match(want: list[str], got: list[str], rtol: float = RTOL, structure_only: bool = False):
    """Align expected lines with printed ones: a list of (want index, got index, printed
    numbers) for each expected line that is not ``...``, or None when they differ."""
    memo: dict[tuple[int, int], object] = {}

    def go(i: int, j: int):
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(want):
            result = [] if j == len(got) else None
        elif want[i].strip() == ELLIPSIS:
            result = None
            for k in range(j, len(got) + 1):
                rest = go(i + 1, k)
                if rest is not None:
                    result = rest
                    break
        elif j < len(got):
            numbers = _line_numbers(want[i], got[j], rtol, structure_only)
            rest = go(i + 1, j + 1) if numbers is not None else None
            result = None if rest is None else [(i, j, numbers), *rest]
        else:
            result = None
        memo[key] = result
        return result

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * (len(want) + len(got)) + 1000))
    return go(0, 0)


def rewritten(want: list[str], got: list[str]) -> tuple[list[str], bool]:
    """(new expected lines, whether the text still matched): numbers replaced in place
    when the text matches, else the whole printed output."""
    aligned = match(want, got, structure_only=True)
    if aligned is None:
        return list(got), False
    new = list(want)
    for i, _, printed in aligned:
        pieces, k = [], 0
        for p, piece in enumerate(want[i].split(ELLIPSIS)):
            if p:
                pieces.append(ELLIPSIS)
            for kind, text in _tokens(piece):
                pieces.append(printed[k] if kind == "number" else text)
                k += kind == "number"
        new[i] = "".join(pieces).rstrip()
    return new, True


# -- running ---------------------------------------------------------------------------------

@contextlib.contextmanager
def scratch_folder(root: Path = ROOT):
    """A temporary working folder whose top-level entries link to the repository's."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="sparsim-docs-") as tmp:
        for entry in root.iterdir():
            if not entry.name.startswith("."):
                os.symlink(entry, Path(tmp) / entry.name)
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def run_console(command: str) -> list[str]:
    """Run one ``sparsim ...`` command in process; its stdout and stderr lines."""
    from sparsim.cli import main

    words = shlex.split(command)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words or words[0] != "sparsim":
        raise ValueError(f"console example {command!r}: only 'sparsim ...' commands run; use a sh block")
    saved = {name: os.environ.get(name) for name in env}
    out = io.StringIO()
    try:
        os.environ.update(env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(words[1:])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return _strip_trailing_blank(out.getvalue().splitlines())


def run_python(source: str, globs: dict, name: str, single: bool = True) -> list[str]:
    """Run one example as doctest does (an expression's value is printed); its output,
    or the last line of its exception after a ``Traceback`` header."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, name, "single" if single else "exec"), globs)
    except Exception as exc:  # noqa: BLE001 - the example's own exception is its output
        last = traceback.format_exception_only(type(exc), exc)[-1].rstrip()
        return [*out.getvalue().splitlines(), "Traceback (most recent call last):", ELLIPSIS, last]
    return _strip_trailing_blank(out.getvalue().splitlines())


def outputs(path: Path) -> list[tuple[Example, list[str]]]:
    """Every example of ``path`` with what it printed (Python examples share one namespace)."""
    found, globs = [], {"__name__": "__docs__"}
    with scratch_folder():
        for ex in examples(path):
            if ex.kind == "console":
                got = run_console(ex.source)
            else:
                got = run_python(ex.source, globs, ex.name, single=ex.kind == "python")
            found.append((ex, got))
    return found


def mismatch(ex: Example, got: list[str]) -> str | None:
    """None when the printed output matches the expected one, else a readable diff."""
    if ex.kind == "python-block":
        failed = "Traceback (most recent call last):" in got
        return f"{ex.name}: the block raised\n" + "\n".join(got) if failed else None
    if match(list(ex.want), got) is not None:
        return None
    import difflib

    diff = difflib.unified_diff(list(ex.want), got, "documented", "printed", lineterm="", n=1)
    return f"{ex.name}: {ex.source.strip()}\n" + "\n".join(diff)


def update(path: Path) -> list[str]:
    """Rewrite the expected outputs of ``path`` from the real ones; what changed, in words."""
    lines = path.read_text(encoding="utf-8").splitlines()
    said, edits = [], []
    for ex, got in outputs(path):
        if ex.kind == "python-block" or match(list(ex.want), got) is not None:
            continue
        new, kept = rewritten(list(ex.want), got)
        edits.append((ex.want_lines, new))
        said.append(f"{ex.name}: " + ("numbers updated" if kept else "text changed: whole output rewritten, "
                                                                     "elide with '...' by hand if wanted"))
    for (start, end), new in sorted(edits, reverse=True):
        lines[start:end] = new
    if edits:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check (or --update) the examples of README.md and docs/*.md.")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md docs/*.md)")
    parser.add_argument("--update", action="store_true", help="rewrite expected outputs from the real ones")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    failed = 0
    for path in [p.resolve() for p in args.files] or doc_files():
        if args.update:
            for line in update(path):
                print(line)
            continue
        for ex, got in outputs(path):
            problem = mismatch(ex, got)
            if problem:
                failed += 1
                print(problem, end="\n\n")
    print(f"{failed} example(s) differ" if failed else "all examples match")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
