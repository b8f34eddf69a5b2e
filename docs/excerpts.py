"""Regenerate the command-output excerpts in README.md and docs/*.md from fresh runs.

    python docs/excerpts.py            rewrite every non-slow excerpt in place
    python docs/excerpts.py --all      ... and the slow ones (benchmarks, sweeps: minutes)
    python docs/excerpts.py --check    exit 1 and print a unified diff if a non-slow excerpt is stale
                                       (with --all: the slow ones too)
    python docs/excerpts.py --list     list the marked blocks

An excerpt is a fenced block with a marker on the line before its opening fence:

    <!-- excerpt: pimc compile examples/gpt2-tiny-decode.onnx -o out | lines 1-2, /LayerNormalization/, -12: -->
    ```
    (replaced by the command's output)
    ```

The marker is `<!-- excerpt[ FLAGS]: COMMAND[ | STAGE]... -->`; it may span several lines (they are
joined with spaces). FLAGS, comma-separated:

- `slow`: the command takes more than a few seconds or prints wall-clock times (a benchmark, a
  sweep); it runs only with --all, and --check alone ignores it.
- `prompt`: the block starts with a `$ COMMAND` line, the command as the marker writes it.

COMMAND is run by /bin/sh with its stdout captured (write `2>&1` for stderr); `&&` chains
commands, but a command cannot contain ` | `, which starts a stage. It runs in a fresh temporary
directory that holds a symlink to every top-level entry of the repository (so paths are written
from the repository root, while outputs such as `-o out` land in the temporary directory), with
`pimc`, `.venv/bin/pimc`, `python`, `python3` and `.venv/bin/python` meaning the Python that runs
this script. A command that exits non-zero is an error. The temporary directory's path and the
repository's path are cut from the output, trailing spaces are dropped from every line, and
identical commands run once per invocation.

STAGEs filter the output, in order:

- `lines PICK, PICK, ...` keeps the picked lines, in increasing order, and writes `...` on a line of
  its own wherever lines are skipped (before, between or after the picks). A PICK is
  `N` (line N, from 1), `N-M` (lines N to M), `N-` (line N to the end), `-N:` (the last N lines),
  `/RE/` (the first line at or after the end of the previous pick that RE matches; Python `re.search`),
  or a range of those, `/RE/-/RE2/` (through the first line from there that RE2 matches), `/RE/-`,
  `N-/RE/`, `/RE/-M`. In a regex, `\\/` is a slash.
- `elide /RE/` replaces, in every line, each match of RE (its first group if it has one) by `...`.

tests/e2e/test_readme_excerpts.py runs --check. Only the standard library and pimc are used.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!--\s*excerpt\b(?P<flags>[^:]*):(?P<body>.*?)\s*-->\s*$", re.S)
FLAGS = {"slow", "prompt"}
ELLIPSIS = "..."
TIMEOUT_S = 3600
# `.venv/bin/pimc` and friends are run as this Python's pimc (PATH holds wrappers for the bare names).
VENV_TOOL = re.compile(r"(?<![\w./-])\.venv/bin/(?=(?:pimc|python3?)(?![\w./-]))")


class ExcerptError(Exception):
    pass


@dataclass
class Pick:
    """Lines `start` to `end`: each a line number (from 1) or a regex; `end` None is the last line;
    `start` None takes the last `last` lines."""

    start: int | str | None
    end: int | str | None
    last: int = 0
    single: bool = False


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the marker
    flags: set[str]
    command: str
    stages: list[tuple[str, list[Pick] | str]] = field(default_factory=list)
    body: tuple[int, int] = (0, 0)  # [first, last) indices of the fenced content in the file's lines

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def slow(self) -> bool:
        return "slow" in self.flags


# -- marker parsing -----------------------------------------------------------------------------------


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside /regex/ literals (where `\\/` escapes a slash)."""
    parts, cur, in_re, i = [], [], False, 0
    while i < len(text):
        c = text[i]
        if in_re and c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == "/":
            in_re = not in_re
        if c == sep and not in_re:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if in_re:
        raise ExcerptError(f"unterminated /regex/ in {text.strip()!r}")
    parts.append("".join(cur))
    return parts


def _regex(token: str) -> str:
    pattern = token[1:-1].replace("\\/", "/")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ExcerptError(f"bad regex {token}: {e}") from None
    return pattern


def _endpoint(token: str) -> int | str:
    if re.fullmatch(r"\d+", token) and int(token) >= 1:
        return int(token)
    if len(token) >= 2 and token.startswith("/") and token.endswith("/"):
        return _regex(token)
    raise ExcerptError(f"bad line pick {token!r} (N, /RE/, a range A-B or A-, or -N:)")


def parse_pick(token: str) -> Pick:
    token = token.strip()
    if m := re.fullmatch(r"-(\d+):", token):
        return Pick(None, None, last=int(m[1]))
    if token.startswith("/"):  # the regex may itself contain '-'
        close = next((i for i in range(1, len(token)) if token[i] == "/" and token[i - 1] != "\\"), -1)
        head, rest = token[: close + 1], token[close + 1 :]
    else:
        head, _, rest = token.partition("-")
        rest = "-" + rest if _ else ""
    start = _endpoint(head)
    if rest == "":
        return Pick(start, start, single=True)
    if not rest.startswith("-"):
        raise ExcerptError(f"bad line pick {token!r}")
    return Pick(start, _endpoint(rest[1:].strip()) if rest[1:].strip() else None)


def parse_marker(text: str) -> tuple[set[str], str, list[tuple[str, list[Pick] | str]]]:
    m = MARKER.match(text)
    if m is None:
        raise ExcerptError("a marker is `<!-- excerpt[ slow, prompt]: COMMAND[ | lines ...][ | elide /RE/] -->`")
    flags = {f.strip() for f in m["flags"].split(",") if f.strip()}
    if flags - FLAGS:
        raise ExcerptError(f"unknown flag(s) {', '.join(sorted(flags - FLAGS))} (known: {', '.join(sorted(FLAGS))})")
    command, *stage_texts = m["body"].split(" | ", 1)
    command = command.strip()
    if not command:
        raise ExcerptError("the marker has no command")
    stages: list[tuple[str, list[Pick] | str]] = []
    for stage in _split_top(stage_texts[0], "|") if stage_texts else []:
        name, _, arg = stage.strip().partition(" ")
        arg = arg.strip()
        if name == "lines":
            stages.append(("lines", [parse_pick(t) for t in _split_top(arg, ",")]))
        elif name == "elide":
            if not (len(arg) >= 2 and arg.startswith("/") and arg.endswith("/")):
                raise ExcerptError(f"elide takes one /regex/, not {arg!r}")
            stages.append(("elide", _regex(arg)))
        else:
            raise ExcerptError(f"unknown stage {name!r} (known: lines, elide)")
    return flags, command, stages


def find_blocks(path: Path, lines: list[str]) -> list[Block]:
    blocks, i = [], 0
    while i < len(lines):
        if not re.match(r"\s*<!--\s*excerpt\b", lines[i]):
            i += 1
            continue
        first = i
        while "-->" not in lines[i]:
            i += 1
            if i == len(lines):
                raise ExcerptError(f"{path.relative_to(ROOT)}:{first + 1}: marker without a closing -->")
        text = " ".join(line.strip() for line in lines[first : i + 1])
        where = f"{path.relative_to(ROOT)}:{first + 1}"
        try:
            flags, command, stages = parse_marker(text)
        except ExcerptError as e:
            raise ExcerptError(f"{where}: {e}") from None
        fence = re.match(r"(`{3,}|~{3,})", lines[i + 1]) if i + 1 < len(lines) else None
        if fence is None:
            raise ExcerptError(f"{where}: the line after the marker must open a fenced block")
        close = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == fence[1]), None)
        if close is None:
            raise ExcerptError(f"{where}: the fenced block is not closed")
        blocks.append(Block(path, first + 1, flags, command, stages, (i + 2, close)))
        i = close + 1
    return blocks


# -- selection ----------------------------------------------------------------------------------------


def _find(lines: list[str], pattern: str, frm: int, what: str) -> int:
    for j in range(frm, len(lines)):
        if re.search(pattern, lines[j]):
            return j
    raise ExcerptError(f"{what} /{pattern}/ matches no line from line {frm + 1} on")


def select(lines: list[str], picks: list[Pick]) -> list[str]:
    """The picked lines, in order, with `...` where lines are skipped."""
    out: list[str] = []
    cursor = 0  # index after the previous pick
    for pick in picks:
        if pick.start is None:
            lo, hi = len(lines) - pick.last, len(lines) - 1
        else:
            lo = pick.start - 1 if isinstance(pick.start, int) else _find(lines, pick.start, cursor, "pick")
            if pick.end is None:
                hi = len(lines) - 1
            elif pick.single:
                hi = lo
            else:
                hi = pick.end - 1 if isinstance(pick.end, int) else _find(lines, pick.end, lo, "range end")
        if lo < cursor:
            raise ExcerptError(f"pick starting at line {lo + 1} goes back before line {cursor + 1}")
        if hi < lo or hi >= len(lines):
            raise ExcerptError(f"pick lines {lo + 1}-{hi + 1} are not within the {len(lines)} lines of output")
        if lo > cursor:
            out.append(ELLIPSIS)
        out.extend(lines[lo : hi + 1])
        cursor = hi + 1
    if cursor < len(lines):
        out.append(ELLIPSIS)
    return out


def elide(lines: list[str], pattern: str) -> list[str]:
    """Each match of `pattern` (its first group, if it has one and that group took part) becomes `...`."""

    def cut(m: re.Match[str]) -> str:
        lo, hi = m.span(1) if m.re.groups and m.start(1) >= 0 else m.span()
        return m.string[m.start() : lo] + ELLIPSIS + m.string[hi : m.end()]

    return [re.sub(pattern, cut, line) for line in lines]


# -- running ------------------------------------------------------------------------------------------


class Runner:
    """Runs commands in fresh directories under one temporary root, with this Python's pimc on PATH."""

    def __init__(self, root: Path) -> None:
        self.root, self.cache, self.count = root, {}, 0
        bin_dir = root / "bin"
        bin_dir.mkdir()
        python = shlex.quote(sys.executable)
        for name, line in {
            "python": f'exec {python} "$@"',
            "python3": f'exec {python} "$@"',
            "pimc": f'exec {python} -m pimc.compiler.cli "$@"',
        }.items():
            (bin_dir / name).write_text(f"#!/bin/sh\n{line}\n")
            (bin_dir / name).chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONSTARTUP")}
        self.env.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            PYTHONHASHSEED="0",
            MPLBACKEND="Agg",
            LC_ALL="C.UTF-8",
            TZ="UTC",
            COLUMNS="120",
        )

    def run(self, block: Block) -> list[str]:
        command = VENV_TOOL.sub("", block.command)
        if command not in self.cache:
            self.count += 1
            work = self.root / f"run{self.count}"
            work.mkdir()
            for entry in ROOT.iterdir():
                if entry.name != ".git":
                    (work / entry.name).symlink_to(entry)
            try:
                done = subprocess.run(
                    ["/bin/sh", "-c", command],
                    cwd=work,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise ExcerptError(f"{block.where}: `{block.command}` ran over {TIMEOUT_S} s") from None
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-15:])
                raise ExcerptError(f"{block.where}: `{block.command}` exited with status {done.returncode}:\n{tail}")
            out = done.stdout
            for base in {work, work.resolve(), ROOT}:
                out = out.replace(f"{base}/", "").replace(str(base), ".")
            self.cache[command] = [line.rstrip() for line in out.rstrip("\n").split("\n")]
        return self.cache[command]


def render(block: Block, output: list[str]) -> list[str]:
    lines = list(output)
    for _, arg in block.stages:  # ("lines", picks) or ("elide", pattern)
        lines = elide(lines, arg) if isinstance(arg, str) else select(lines, arg)
    if "prompt" in block.flags:
        lines = [f"$ {block.command}", *lines]
    for line in lines:
        if re.match(r"\s*(```|~~~)", line):
            raise ExcerptError(f"{block.where}: the output has a fence line: {line!r}")
    return lines


# -- main ---------------------------------------------------------------------------------------------


def marked_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.exists() and "<!-- excerpt" in f.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="docs/excerpts.py", description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--check", action="store_true", help="print a diff and exit 1 if an excerpt is stale")
    ap.add_argument("--all", action="store_true", help="include the slow excerpts")
    ap.add_argument("--list", action="store_true", help="list the marked blocks and exit")
    args = ap.parse_args(argv)
    try:
        files = {path: path.read_text(encoding="utf-8").split("\n") for path in marked_files()}
        blocks = {path: find_blocks(path, lines) for path, lines in files.items()}
        if args.list:
            for path_blocks in blocks.values():
                for b in path_blocks:
                    print(f"{b.where:18s} {'slow' if b.slow else '    '}  {b.command}")
            return 0
        stale = 0
        skipped = 0
        with tempfile.TemporaryDirectory(prefix="pimc-excerpts-") as tmp:
            runner = Runner(Path(tmp))
            for path, lines in files.items():
                new = list(lines)
                for b in reversed(blocks[path]):  # from the end, so earlier indices stay valid
                    if b.slow and not args.all:
                        skipped += 1
                        continue
                    if b.slow:
                        print(f"{b.where}: running (slow) {b.command}", file=sys.stderr, flush=True)
                    new[b.body[0] : b.body[1]] = render(b, runner.run(b))
                if new == lines:
                    continue
                stale += 1
                rel = str(path.relative_to(ROOT))
                if args.check:
                    sys.stdout.writelines(
                        difflib.unified_diff([f"{x}\n" for x in lines], [f"{x}\n" for x in new], f"a/{rel}", f"b/{rel}")
                    )
                else:
                    path.write_text("\n".join(new), encoding="utf-8")
                    print(f"updated {rel}", file=sys.stderr)
    except ExcerptError as e:
        print(f"excerpts: error: {e}", file=sys.stderr)
        return 2
    note = f" ({skipped} slow block(s) not run; --all runs them)" if skipped else ""
    if args.check and stale:
        print(
            f"excerpts: {stale} file(s) have stale excerpts{note}; regenerate with `python docs/excerpts.py"
            f"{' --all' if args.all else ''}`",
            file=sys.stderr,
        )
        return 1
    n = sum(len(v) for v in blocks.values())
    print(
        f"excerpts: {n} block(s) in {len(files)} file(s) {'up to date' if args.check or not stale else 'regenerated'}"
        f"{note}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
