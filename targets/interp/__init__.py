"""Interpreters of the IR on numpy: the reference semantics of the nn dialect and the PIM command emulator."""
