"""Rendering an output in a forked child process while the compile goes on.

roofline.png costs about half a second (importing matplotlib, then drawing), whatever the model's size,
and nothing else the compile does depends on it. `Background` forks a child that renders it from the
finished report while the parent prints the plan and the traces; `result()` waits for the bytes. The
child computes exactly what the parent would, so the output is the same byte for byte. Where forking is
not safe or not possible (no fork on the platform, other threads running) the function runs in the
calling process when the result is asked for.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Callable
from typing import Any


def _child(render: Callable[[], bytes], conn: Any) -> None:
    try:
        data = render()
    except BaseException:  # the parent renders again and reports the error itself
        conn.send_bytes(b"")
        return
    conn.send_bytes(b"+" + data)


class Background:
    """`render()` in a forked child; `result()` its bytes (rendered here instead when the child could not)."""

    def __init__(self, render: Callable[[], bytes]) -> None:
        self._render = render
        self._bytes: bytes | None = None
        self._proc: Any = None
        self._conn: Any = None
        if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
            return
        try:
            ctx = multiprocessing.get_context("fork")
            self._conn, send = ctx.Pipe(duplex=False)
            sys.stdout.flush()  # the child flushes the streams it inherits when it ends
            sys.stderr.flush()
            self._proc = ctx.Process(target=_child, args=(render, send), daemon=True)
            self._proc.start()
            send.close()
        except OSError:
            self._proc = None

    def result(self) -> bytes:
        if self._bytes is None:
            self._bytes = self._wait()
        return self._bytes

    def _wait(self) -> bytes:
        if self._proc is not None:
            try:
                data = self._conn.recv_bytes()
            except (EOFError, OSError):
                data = b""
            finally:
                self._proc.join()
                self._conn.close()
                self._proc = None
            if data.startswith(b"+"):
                return data[1:]
        return self._render()
