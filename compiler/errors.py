"""Errors pimc reports to users.

Every error a user can cause (a bad model file, an unsupported op, an invalid
system description, a malformed IR file) is a `PimcError` whose message names
the place: the ONNX node, the TOML key, the file and line. The CLI prints
`pimc: error: <message>` and exits with status 1, never a traceback.
"""

from __future__ import annotations


class PimcError(Exception):
    """An error caused by the user's input, printed as one line by the CLI."""


class ModelImportError(PimcError):
    """The model file cannot be read or one of its nodes cannot be imported."""


class SystemConfigError(PimcError):
    """The system description (TOML) is invalid; the message names the key."""


class CompileError(PimcError):
    """A pass cannot handle the IR it was given (e.g. no device can run an op)."""
