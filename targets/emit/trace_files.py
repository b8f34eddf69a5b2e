"""Command-trace files: rendered only when written, and bounded in size.

A trace holds a PIM device's command stream unrolled, one line per command (AiM)
or per command, channel and column (AttAcc): loop-compressed IR of a few thousand
ops can stand for billions of lines (Llama-2-7B's prefill, 512 input rows per
GEMV, on AttAcc's 80 channels: ~1.2e10 lines, ~250 GB). So

- `TraceFiles` maps each trace file's name to its text and renders a text on first
  access only: a compile whose traces are never written (a sweep point, a test
  reading the report) never unrolls them;
- a trace longer than `MAX_TRACE_LINES` lines is refused with a one-line error
  before any of it is rendered (`check_trace_lines`; the emitters count lines from
  the loop-compressed IR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from xdsl.dialects.builtin import ModuleOp

from pimc.errors import PimcError
from pimc.targets.system import System

MAX_TRACE_LINES = 50_000_000
"""The most lines pimc writes into the traces of one PIM device: about 1.2 GB of text (AiM lines average
~25 bytes, AttAcc lines are 22), which a simulator reads in minutes; a longer stream is refused."""


class TraceTooLargeError(PimcError):
    """A device's command stream unrolls to more trace lines than pimc writes (MAX_TRACE_LINES)."""


def check_trace_lines(lines: int, what: str) -> None:
    """Raise TraceTooLargeError naming `what` (e.g. "the AiM trace of device 'pim'") if `lines` > MAX_TRACE_LINES."""
    if lines > MAX_TRACE_LINES:
        raise TraceTooLargeError(
            f"{what} would be {lines:.3g} lines, more than the {MAX_TRACE_LINES:.3g} pimc writes "
            "(compile a smaller model or phase, or write no trace with --emit '')"
        )


class TraceFiles(Mapping[str, str]):
    """Trace file name -> text, each group of files rendered by its function on first access, then kept."""

    def __init__(self) -> None:
        self._render: dict[str, Callable[[], dict[str, str]]] = {}
        self._texts: dict[str, str] = {}

    def add(self, names: list[str], render: Callable[[], list[str]]) -> None:
        """Files `names`, whose texts `render()` returns in the same order (one call renders them all)."""

        def group() -> dict[str, str]:
            texts = render()
            assert len(texts) == len(names)
            return dict(zip(names, texts))

        for name in names:
            self._render[name] = group

    def __getitem__(self, name: str) -> str:
        if name not in self._texts:
            self._texts.update(self._render[name]())
        return self._texts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._render)

    def __len__(self) -> int:
        return len(self._render)


def trace_device(module: ModuleOp, system: System, isa: str, device: str) -> str:
    """The PIM device a trace target writes for: `device` (checked to be a PIM device of `isa`), else the one
    device of that ISA that got PIM macros; a PimcError names the choices otherwise."""
    from pimc.dialects import pim
    from pimc.dialects.place import device_of

    of_isa = [n for n, d in system.devices.items() if d.kind == "pim" and d.pim.isa == isa]
    if device:
        if device not in of_isa:
            raise PimcError(
                f"the {isa} trace: '{device}' is not a PIM device of isa {isa} of system "
                f"'{system.name}' (those: {', '.join(of_isa) or 'none'})"
            )
        return device
    used = [d for d in of_isa if d in {device_of(op) for op in pim.macros(module)}]
    if len(used) != 1:
        raise PimcError(
            f"the {isa} trace: name the device (device=...): system '{system.name}' has "
            f"{len(used)} {isa} devices with PIM macros ({', '.join(used) or 'none'})"
        )
    return used[0]
