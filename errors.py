"""Errors pimc reports to users.

Every error a user can cause (a bad model file, an unsupported op, an invalid
system description, a malformed IR file, a bad command-line value) is a
`PimcError` whose message names the place: the ONNX node, initializer or value,
the DSL line:column, the TOML key, the `--dim` name. The CLI prints
`pimc: error: <message>` and exits with status 1, never a traceback.

`PimcError` is an xDSL `DiagnosticException`, the class xDSL's own verifier and
pass errors derive from: under stock `xdsl-opt`, a pimc pass that fails (an
unknown strategy, a system that does not load, PIM rows exhausted) is a
diagnostic like any xDSL one (`xdsl-opt --verify-diagnostics` prints its message
and no traceback), and pimc's universe (compiler/universe.py) makes an uncaught
one print as a single `xdsl-opt: error: <message>` line with exit status 1.
"""

from __future__ import annotations

from xdsl.utils.exceptions import DiagnosticException


class PimcError(DiagnosticException):
    """An error caused by the user's input, printed as one line by the CLI.

    `context_lines` > 0 says that the message ends with that many lines of context the CLI prints below
    the error line as they are (a DSL error's source line and the caret under its column).
    """

    context_lines: int = 0


class ModelImportError(PimcError):
    """The model file cannot be read or one of its nodes cannot be imported."""


class SystemConfigError(PimcError):
    """The system description (TOML) is invalid; the message names the key."""


class CompileError(PimcError):
    """A pass cannot handle the IR it was given (e.g. no device can run an op)."""


class LimitError(ModelImportError):
    """The model is larger than any memory can hold, or than pimc compiles (limits.py)."""
