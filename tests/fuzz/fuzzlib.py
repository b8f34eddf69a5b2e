"""Input mutators and the property every pimc command line must satisfy, shared by the fuzz tests.

Each `*_case(rnd, workdir)` builds one bad (or good) input from a seed input of the repository (the
small ONNX fixtures, the example DSL programs, the system presets, the tiny model's IR after some
passes), mutated by `rnd` (a
`random.Random`; under hypothesis `st.randoms()`, so failures shrink), and returns the `pimc`
argument list to run. `run_case` runs it through `pimc.compiler.cli.main` in this process and checks
the property:

- exit status 0 (then every JSON output is strict JSON, without NaN or Infinity), or
- exit status 1 with exactly one `pimc: error:` line on stderr (a DSL error may add its source line
  and caret below it), no traceback, and no output directory created;
- never an exception out of `main`, and never longer than `CASE_SECONDS` (a SIGALRM watchdog stops a
  hanging case, which then fails).

Run this file to fuzz without hypothesis and list every distinct failure:
`python tests/fuzz/fuzzlib.py [CASES] [SEED]`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import time
import tomllib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pimc.targets.placement.strategies import STRATEGIES

REPO = Path(__file__).resolve().parents[2]
ONNX_SEEDS = sorted((REPO / "tests" / "models").glob("*-opt.onnx")) + [REPO / "examples" / "gpt2-tiny-decode.onnx"]
DSL_SEEDS = sorted((REPO / "examples").glob("*.pim"))
PRESETS = REPO / "targets" / "presets"
SYSTEM_SEEDS = ["npu-aim", "attacc", "neupims", "h100", "papi", "ianus", "npu", "groq-lpu", "hybe"]
TINY = REPO / "examples" / "gpt2-tiny-decode.onnx"
"""The fastest model to compile: the one the system and command-line cases use."""

CASE_SECONDS = float(os.environ.get("PIMC_FUZZ_CASE_SECONDS", "10"))
"""Wall-clock limit of one case (a watchdog; a case that hangs is a bug in pimc)."""

FAST = ("roofline", "greedy")


def exists(p: Path) -> bool:
    """Path.exists, False for a path the OS refuses to look up (a name too long)."""
    try:
        return p.exists()
    except OSError:
        return False


class CaseTimeout(BaseException):
    """Raised in the case by the watchdog (a BaseException: pimc's `except Exception` cannot swallow it)."""


# -- running a case ------------------------------------------------------------


@dataclass
class Outcome:
    argv: list[str]
    status: int | None
    out: str
    err: str
    seconds: float
    exception: str | None = None
    problems: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """A short key grouping failures of one cause: the exception's last frame and type, or the problem."""
        if self.exception:
            lines = [ln for ln in self.exception.strip().splitlines() if ln.strip()]
            frame = next((ln.strip() for ln in reversed(lines) if ln.strip().startswith("File ")), "")
            frame = re.sub(r", line \d+", "", frame)
            return f"{lines[-1].split(':')[0]} at {frame}"
        return re.sub(r"\d+", "N", self.problems[0])[:160] if self.problems else ""

    def report(self) -> str:
        return (
            f"argv: {self.argv}\nstatus: {self.status} after {self.seconds:.1f} s\nproblems: {self.problems}\n"
            f"stderr:\n{self.err[-3000:]}\n" + (f"exception:\n{self.exception}" if self.exception else "")
        )


def _fast_roofline(report: dict[str, Any], system: Any) -> bytes:
    """The roofline plot's figure is built (its geometry is what user input can break) but not rasterised."""
    from pimc.targets.emit.roofline import _figure

    _figure(report, system)
    return b"\x89PNG\r\n\x1a\n"


@contextlib.contextmanager
def _watchdog(seconds: float):
    def fire(signum, frame):
        raise CaseTimeout(f"the case ran for more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(argv: list[str], outputs: list[Path], render_png: bool = False) -> Outcome:
    """Run `pimc argv` in-process and check the property (module docstring); `outputs` are the output
    directories the command may write, which must not exist beforehand."""
    from pimc.compiler.cli import main
    from pimc.targets.emit import roofline as plots

    for o in outputs:
        assert not exists(o), o
    out, err = io.StringIO(), io.StringIO()
    status: int | None = None
    exception = None
    real_png = plots.roofline_png_bytes
    start = time.monotonic()
    try:
        if not render_png:
            plots.roofline_png_bytes = _fast_roofline
        with _watchdog(CASE_SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except (Exception, CaseTimeout, SystemExit, RecursionError, MemoryError):
        exception = traceback.format_exc()
    finally:
        plots.roofline_png_bytes = real_png
    result = Outcome(argv, status, out.getvalue(), err.getvalue(), time.monotonic() - start, exception)
    result.problems = _check(result, outputs)
    return result


def _check(r: Outcome, outputs: list[Path]) -> list[str]:
    problems = []
    if r.exception is not None:
        return [f"uncaught exception: {r.exception.strip().splitlines()[-1]}"]
    if "Traceback (most recent call last)" in r.err:
        problems.append("a traceback on stderr")
    errors = [ln for ln in r.err.splitlines() if ln.startswith("pimc: error:")]
    if r.status == 0:
        if errors:
            problems.append("exit status 0 with an error line")
        for o in outputs:
            for f in o.glob("*.json") if o.is_dir() else []:
                try:
                    json.loads(f.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
                except ValueError as e:
                    problems.append(f"{f.name} is not strict JSON: {e}")
    elif r.status == 1:
        if len(errors) != 1:
            problems.append(f"exit status 1 with {len(errors)} 'pimc: error:' lines")
        other = [ln for ln in r.err.splitlines() if not ln.startswith(("pimc: error:", "pimc: warning:"))]
        if other and not (len(other) == 2 and other[1].strip() == "^"):  # a DSL error's source line and caret
            problems.append(f"stray stderr lines after the error: {other[:3]}")
        for o in outputs:
            if exists(o):
                problems.append(f"failed, yet the output directory {o.name} was created")
        if r.out.strip() and "wrote " in r.out:
            problems.append("failed after writing outputs")
    else:
        problems.append(f"exit status {r.status}")
    return problems


# -- ONNX models -------------------------------------------------------------------

_ODD_DIMS = [0, -1, -5, 1, 2, 3, 7, 129, 2**31, 2**40, 2**62, 10**15 + 1]
_ODD_FLOATS = [0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), -float("inf"), 3.5]
_ODD_INTS = [0, -1, 1, 2, 3, 63, 2**31, 2**62, -(2**62)]
_OP_TYPES = [
    "MatMul",
    "Gemm",
    "Add",
    "Mul",
    "Softmax",
    "LayerNormalization",
    "Reshape",
    "Transpose",
    "Concat",
    "Gather",
    "Identity",
    "Cast",
    "Expand",
    "Range",
    "Tile",
    "ConstantOfShape",
    "Where",
    "Split",
    "Slice",
    "Unsqueeze",
    "Squeeze",
    "Gelu",
    "Relu",
    "Tanh",
    "Pow",
    "Div",
    "Sub",
    "Shape",
    "ReduceMean",
    "Conv",
    "LSTM",
    "NonZero",
    "If",
    "Loop",
    "Einsum",
    "TopK",
    "CustomOp",
]
_DTYPES = [
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.BOOL,
    TensorProto.STRING,
    TensorProto.UNDEFINED,
    TensorProto.DOUBLE,
    TensorProto.COMPLEX64,
    TensorProto.UINT4,
    TensorProto.FLOAT8E4M3FN,
    99,
]


def _mutate_tensor(rnd: random.Random, t: TensorProto) -> None:
    what = rnd.choice(["dim", "dim", "dims", "dtype", "raw", "raw", "name", "external"])
    if what == "dim" and t.dims:
        t.dims[rnd.randrange(len(t.dims))] = rnd.choice(_ODD_DIMS)
    elif what == "dims":
        del t.dims[:]
        t.dims.extend(rnd.choice(_ODD_DIMS[:8]) for _ in range(rnd.randrange(4)))
    elif what == "dtype":
        t.data_type = rnd.choice(_DTYPES)
    elif what == "raw":
        if t.raw_data:
            cut = rnd.randrange(len(t.raw_data) + 1)
            t.raw_data = t.raw_data[:cut] if rnd.random() < 0.7 else t.raw_data + b"\x00" * rnd.randrange(1, 9)
        else:
            t.float_data.append(rnd.choice(_ODD_FLOATS))
    elif what == "name":
        t.name = rnd.choice(["", "x", t.name + "_renamed", "input_ids", "a\nb"])
    else:
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        e = t.external_data.add()
        e.key, e.value = "location", rnd.choice(["missing.bin", "../../etc/passwd", ""])


def _mutate_value_info(rnd: random.Random, vi: onnx.ValueInfoProto) -> None:
    tt = vi.type.tensor_type
    what = rnd.choice(["dim", "dim", "param", "dtype", "noshape", "name", "rank"])
    dims = tt.shape.dim
    if what == "dim" and dims:
        dims[rnd.randrange(len(dims))].dim_value = rnd.choice(_ODD_DIMS)
    elif what == "param" and dims:
        dims[rnd.randrange(len(dims))].dim_param = rnd.choice(["batch", "seq", "N", "", "past_sequence_length"])
    elif what == "dtype":
        tt.elem_type = rnd.choice(_DTYPES)
    elif what == "noshape":
        tt.ClearField("shape")
    elif what == "name":
        vi.name = rnd.choice(["", "dangling", vi.name + "_x"])
    else:
        d = dims.add()
        d.dim_value = rnd.choice([1, 2, 0])


def _random_attribute(rnd: random.Random, name: str) -> onnx.AttributeProto:
    kind = rnd.choice(["int", "float", "ints", "str", "tensor", "floats"])
    if kind == "int":
        return helper.make_attribute(name, rnd.choice(_ODD_INTS))
    if kind == "float":
        return helper.make_attribute(name, rnd.choice(_ODD_FLOATS))
    if kind == "ints":
        return helper.make_attribute(
            name, [rnd.choice(_ODD_INTS) for _ in range(rnd.randrange(5))], attr_type=onnx.AttributeProto.INTS
        )
    if kind == "floats":
        return helper.make_attribute(name, [rnd.choice(_ODD_FLOATS) for _ in range(rnd.randrange(1, 4))])
    if kind == "str":
        return helper.make_attribute(name, rnd.choice(["", "none", "tanh", "NOTSET", "\x00"]))
    t = numpy_helper.from_array(np.array(rnd.choice([[1, 2], [0], [], [-1, 4]]), dtype=np.int64))
    return helper.make_attribute(name, t)


_ATTR_NAMES = [
    "axis",
    "perm",
    "to",
    "transA",
    "transB",
    "alpha",
    "epsilon",
    "keepdims",
    "axes",
    "value",
    "split",
    "num_outputs",
    "approximate",
    "stash_type",
    "allowzero",
    "start",
    "end",
    "upper",
    "noop_with_empty_axes",
]


def _mutate_node(rnd: random.Random, graph: onnx.GraphProto) -> None:
    nodes = graph.node
    if not nodes:
        return
    i = rnd.randrange(len(nodes))
    node = nodes[i]
    what = rnd.choice(
        [
            "op",
            "attr",
            "attr",
            "attr_del",
            "input",
            "input",
            "output",
            "order",
            "delete",
            "duplicate",
            "domain",
            "arity",
            "cycle",
        ]
    )
    names = [v for n in nodes for v in n.output] + [x.name for x in graph.input] + [x.name for x in graph.initializer]
    if what == "op":
        node.op_type = rnd.choice(_OP_TYPES)
    elif what == "attr":
        if node.attribute and rnd.random() < 0.6:
            a = node.attribute[rnd.randrange(len(node.attribute))]
            new = _random_attribute(rnd, a.name)
            a.CopyFrom(new)
        else:
            node.attribute.append(_random_attribute(rnd, rnd.choice(_ATTR_NAMES)))
    elif what == "attr_del" and node.attribute:
        del node.attribute[rnd.randrange(len(node.attribute))]
    elif what == "input" and node.input:
        node.input[rnd.randrange(len(node.input))] = rnd.choice(
            [*rnd.sample(names, min(3, len(names))), "dangling", "", node.output[0] if node.output else "z"]
        )
    elif what == "output" and node.output:
        node.output[rnd.randrange(len(node.output))] = rnd.choice([rnd.choice(names), "", "fresh"])
    elif what == "order" and len(nodes) > 1:
        j = rnd.randrange(len(nodes))
        a, b = copy.deepcopy(nodes[i]), copy.deepcopy(nodes[j])
        nodes[i].CopyFrom(b)
        nodes[j].CopyFrom(a)
    elif what == "delete":
        del nodes[i]
    elif what == "duplicate":
        nodes.insert(rnd.randrange(len(nodes) + 1), copy.deepcopy(node))
    elif what == "domain":
        node.domain = rnd.choice(["com.microsoft", "ai.onnx.ml", "custom", ""])
    elif what == "arity":
        if node.input and rnd.random() < 0.5:
            del node.input[-1]
        else:
            node.input.append(rnd.choice(names))
    elif what == "cycle" and node.input and node.output:  # a node reading its own result, or a later one's
        later = [o for n in nodes[i:] for o in n.output]
        node.input[0] = rnd.choice(later)


def _mutate_model(rnd: random.Random, model: onnx.ModelProto) -> None:
    g = model.graph
    what = rnd.choice(
        [
            "init",
            "init",
            "input",
            "input",
            "node",
            "node",
            "node",
            "opset",
            "ir",
            "output",
            "value_info",
            "drop_init",
            "init_as_input",
            "values",
            "values",
            "values",
        ]
    )
    if what == "init" and g.initializer:
        _mutate_tensor(rnd, g.initializer[rnd.randrange(len(g.initializer))])
    elif what == "input" and g.input:
        _mutate_value_info(rnd, g.input[rnd.randrange(len(g.input))])
    elif what == "node":
        _mutate_node(rnd, g)
    elif what == "opset":
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = rnd.choice([0, 1, 6, 7, 11, 12, 13, 17, 18, 21, 23, 24, 99, 10**6, -1])
        if rnd.random() < 0.2:
            del model.opset_import[:]
    elif what == "ir":
        model.ir_version = rnd.choice([0, 1, 3, 7, 11, 99, -1])
    elif what == "output" and g.output:
        vi = g.output[rnd.randrange(len(g.output))]
        if rnd.random() < 0.5:
            vi.name = rnd.choice(["dangling", "", g.input[0].name if g.input else "x"])
        else:
            _mutate_value_info(rnd, vi)
    elif what == "value_info" and g.node:
        out = g.node[rnd.randrange(len(g.node))].output
        if out:
            vi = helper.make_tensor_value_info(
                out[0], rnd.choice(_DTYPES[:5]), [rnd.choice(_ODD_DIMS) for _ in range(2)]
            )
            g.value_info.append(vi)
    elif what == "values":  # the values of a small constant (shape arithmetic: Reshape targets, axes, splits)
        small = [
            t
            for t in g.initializer
            if math.prod(t.dims) <= 64 and t.data_type in (TensorProto.INT64, TensorProto.FLOAT)
        ]
        consts = [a.t for n in g.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
        pool = small + consts
        if pool:
            t = rnd.choice(pool)
            try:
                a = numpy_helper.to_array(t).copy()
            except Exception:
                return
            if a.size:
                flat = a.reshape(-1)
                odd = rnd.choice(_ODD_INTS + [0, -5, 129]) if a.dtype.kind in "iu" else rnd.choice(_ODD_FLOATS)
                flat[rnd.randrange(flat.size)] = odd
                t.CopyFrom(numpy_helper.from_array(flat.reshape(a.shape), t.name))
    elif what == "drop_init" and g.initializer:
        del g.initializer[rnd.randrange(len(g.initializer))]
    elif what == "init_as_input" and g.initializer:
        t = g.initializer[rnd.randrange(len(g.initializer))]
        g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))


_ONNX_CACHE: dict[Path, bytes] = {}


def onnx_case(rnd: random.Random, workdir: Path) -> tuple[list[str], list[Path]]:
    """A mutated ONNX fixture compiled (mostly) with a fast strategy, or run through `pimc opt` / `pimc run`."""
    seed = rnd.choice(ONNX_SEEDS)
    data = _ONNX_CACHE.setdefault(seed, seed.read_bytes())
    if rnd.random() > 0.88:  # damage the bytes themselves
        b = bytearray(data)
        if rnd.random() < 0.5:
            b = b[: rnd.randrange(len(b))]
        else:
            for _ in range(rnd.randrange(1, 20)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        blob = bytes(b)
    else:
        model = onnx.ModelProto.FromString(data)
        for _ in range(rnd.choice([1, 1, 1, 2, 3])):
            _mutate_model(rnd, model)
        blob = model.SerializeToString()
    path = workdir / "m.onnx"
    path.write_bytes(blob)
    out = workdir / "out"
    dims = _dims_for_onnx(rnd)
    mode = rnd.random()  # (hypothesis draws small numbers first: the common case is mode 0)
    if mode > 0.9:
        return [
            "opt",
            str(path),
            "-p",
            rnd.choice(["raise-nn", "annotate-cost", "annotate-cost,partition{strategy=roofline}"]),
            *dims,
        ], []
    if mode > 0.84 and seed.name.endswith("-opt.onnx"):
        return ["run", str(path), "--strategy", rnd.choice(FAST), *dims], []
    return ["compile", str(path), *_strategy(rnd), *dims, "-o", str(out)], [out]


def _strategy(rnd: random.Random) -> list[str]:
    if rnd.random() > 0.9:
        return []  # the default: optimal, with the baselines
    return ["--strategy", rnd.choice(FAST), "--no-baselines"]


def _dims_for_onnx(rnd: random.Random) -> list[str]:
    if rnd.random() < 0.8:
        return []
    return ["--dim", f"{rnd.choice(['batch', 'seq', 'past_sequence_length', 'N', 's0', ''])}={dim_value(rnd)}"]


def dim_value(rnd: random.Random) -> str:
    """A value for --dim: ordinary, zero, negative, huge, not a number, a dtype."""
    return rnd.choice(
        [
            "1",
            "2",
            "8",
            "0",
            "-1",
            "+3",
            "00",
            " 4 ",
            "1e3",
            "3.5",
            "nan",
            "inf",
            "",
            "f16",
            "i8",
            "bf16",
            "eight",
            "²",
            "١",
            str(2**31),
            str(10**15),
            str(10**15 + 1),
            str(2**63),
            "9" * 40,
            "9" * 5000,
            "20000",
            "100000000",
            "0x10",
            "1_000",
        ]
    )


# -- DSL programs --------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.\d*(?:[eE][+-]?\d+)?|\d+|\S")
_NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "7",
    "64",
    "1024",
    "20000",
    "100000000",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999999",
    "1e400",
    "1.5",
    "0.0",
    "1e-400",
    "3e38",
    "1e39",
]
_WORDS = [
    "f16",
    "i64",
    "f64",
    "bool",
    "x",
    "h",
    "layers",
    "batch",
    "hidden",
    "heads",
    "tokens",
    "cached",
    "output",
    "weight",
    "input",
    "cache",
    "repeat",
    "phase",
    "prefill",
    "decode",
    "train",
    "linear",
    "attention",
    "split",
    "concat",
    "kv_append",
    "reshape",
    "transpose",
    "softmax",
    "embedding",
    "gelu",
    "T",
    "true",
    "approximate",
    "axis",
    "causal",
    "scale",
    "eps",
    "mask_fill",
    "parts",
]
_PUNCT = list('()[]{},=+-*/.:#"') + ["//", "\n", "\t", "\x00", "é", "\u2028"]


def mutate_dsl(rnd: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rnd.choice([1, 1, 2, 3])):
        what = rnd.choice(
            [
                "number",
                "number",
                "number",
                "word",
                "punct",
                "delete_token",
                "delete_line",
                "duplicate_line",
                "swap_lines",
                "truncate",
                "insert_line",
            ]
        )
        i = rnd.randrange(len(lines))
        tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(lines[i])]
        if what in ("number", "word", "punct", "delete_token") and tokens:
            numbers = [t for t in tokens if lines[i][t[0]].isdigit()]
            a, b = rnd.choice(numbers if what == "number" and numbers else tokens)
            new = {
                "number": lambda: rnd.choice(_NUMBERS),
                "word": lambda: rnd.choice(_WORDS),
                "punct": lambda: rnd.choice(_PUNCT),
                "delete_token": lambda: "",
            }[what]()
            lines[i] = lines[i][:a] + new + lines[i][b:]
        elif what == "delete_line":
            del lines[i]
        elif what == "duplicate_line":
            lines.insert(i, lines[i])
        elif what == "swap_lines":
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif what == "truncate":
            cut = "\n".join(lines)
            return cut[: rnd.randrange(len(cut) + 1)]
        elif what == "insert_line":
            lines.insert(
                i,
                rnd.choice(
                    [
                        "repeat 100000 as j { }",
                        "repeat 3 as k { repeat 100000 as j { x = relu(x) } }",
                        "param huge = 9223372036854775807 * 2",
                        "x = split(h, 100000000)",
                        "input z[0]",
                        "weight w[100000000, 100000000]",
                        "param p = 1 / 0",
                        "y = softmax(h, axis=9223372036854775807)",
                        "phase decode { tokens = 0 }",
                        "cache c[batch, 100000000000, 64]",
                        "q = attention(h, h, h, scale=1e39)",
                    ]
                ),
            )
        if not lines:
            lines = [""]
    return "\n".join(lines)


_DSL_CACHE: dict[Path, str] = {}


def dsl_case(rnd: random.Random, workdir: Path) -> tuple[list[str], list[Path]]:
    """A mutated example program, compiled at one or two layers (unless the case overrides `layers`)."""
    seed = rnd.choice(DSL_SEEDS)
    text = _DSL_CACHE.setdefault(seed, seed.read_text())
    if rnd.random() < 0.85:
        text = mutate_dsl(rnd, text)
    path = workdir / seed.name
    path.write_text(text, encoding="utf-8") if rnd.random() < 0.97 else path.write_bytes(b"\xff\xfe" + text.encode())
    out = workdir / "out"
    dims = ["--dim", f"layers={rnd.choice(['1', '1', '2'])}"]
    if rnd.random() > 0.65:
        name = rnd.choice(
            [
                "batch",
                "seq",
                "past",
                "speculate",
                "hidden",
                "heads",
                "layers",
                "vocab",
                "dtype",
                "ffn",
                "kv_heads",
                "nosuch",
                "layer",
            ]
        )
        dims = ["--dim", f"{name}={dim_value(rnd)}"] + (dims if name != "layers" else [])
    extra = []
    if rnd.random() > 0.9:
        extra = rnd.choice(
            [
                ["--speculate", rnd.choice(["0", "2", "-1", "100000000"])],
                ["--sub-batches", rnd.choice(["2", "3", "0", "1000"]), "--dim", "batch=4"],
                ["--dtype", rnd.choice(["fp8", "int8", "fp32"])],
                ["--emit", rnd.choice(["aim", "attacc", "x"])],
            ]
        )
    if rnd.random() > 0.92:
        return ["opt", str(path), "-p", "annotate-cost", *dims], []
    return ["compile", str(path), *_strategy(rnd), *dims, *extra, "-o", str(out)], [out]


# -- system descriptions -----------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_toml(doc: dict[str, Any]) -> str:
    """The TOML text of a system document (top-level keys, tables of tables, arrays of tables)."""
    lines = [
        f"{json.dumps(k)} = {_toml_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, (dict, list))
        or (isinstance(v, list) and not all(isinstance(x, dict) for x in v))
        or (isinstance(v, list) and not v)
    ]
    for k, v in doc.items():
        if isinstance(v, dict):
            plain = {a: b for a, b in v.items() if not isinstance(b, dict)}
            if plain:
                lines.append(f"[{json.dumps(k)}]")
                lines += [f"{json.dumps(a)} = {_toml_value(b)}" for a, b in plain.items()]
            for name, table in v.items():
                if isinstance(table, dict):
                    lines.append(f"[{json.dumps(k)}.{json.dumps(name)}]")
                    lines += [f"{json.dumps(a)} = {_toml_value(b)}" for a, b in table.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for table in v:
                lines.append(f"[[{json.dumps(k)}]]")
                lines += [f"{json.dumps(a)} = {_toml_value(b)}" for a, b in table.items()]
    return "\n".join(lines) + "\n"


_EDGE_VALUES = [1e-9, 1e-6, 1e-3, 1, 2, 4096, 2**16, 2**24, 1e6, 1e9, 1e12, 2**31 - 1]

_ODD_VALUES: list[Any] = [
    0,
    -1,
    1,
    2,
    0.5,
    1e-300,
    1e-9,
    1e300,
    2**63 - 1,
    -(2**63),
    float("nan"),
    float("inf"),
    -float("inf"),
    1e15,
    3,
    16,
    4096,
    "x",
    True,
    [],
    {},
    "fp16",
    10**6,
]


def _numeric_paths(doc: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _numeric_paths(v, (*path, k))] + ([path] if path else [])
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _numeric_paths(v, (*path, i))] + ([path] if path else [])
    return [path]


def mutate_system(rnd: random.Random, doc: dict[str, Any]) -> None:
    for _ in range(rnd.choice([1, 1, 1, 2, 3])):
        paths = _numeric_paths(doc)
        if not paths:
            return
        path = rnd.choice(paths)
        parent: Any = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        what = rnd.choice(["value", "value", "value", "value", "delete", "unknown", "rename"])
        if what == "value":
            old = parent[key]
            if isinstance(old, (int, float)) and not isinstance(old, bool) and rnd.random() < 0.3:
                parent[key] = old * rnd.choice([0, -1, 1e-12, 1e12, 2**40, 0.5])
            elif isinstance(old, (int, float)) and not isinstance(old, bool) and rnd.random() < 0.4:
                extreme = rnd.choice(_EDGE_VALUES)  # at the edges of what validation accepts
                parent[key] = type(old)(extreme) if isinstance(old, int) and extreme >= 1 else extreme
            else:
                parent[key] = rnd.choice(_ODD_VALUES)
        elif what == "delete":
            if isinstance(parent, list):
                parent.pop(key)
            else:
                del parent[key]
        elif what == "unknown" and isinstance(parent, dict):
            parent[rnd.choice(["colour", "kind", "memory", "preset", "tRCD"])] = rnd.choice(_ODD_VALUES)
        elif what == "rename" and isinstance(parent, dict):
            parent[rnd.choice(["gddr6", "hbm", "dram", "x", ""])] = parent.pop(key)


_SYSTEM_CACHE: dict[str, dict[str, Any]] = {}


def system_case(rnd: random.Random, workdir: Path) -> tuple[list[str], list[Path]]:
    """A mutated preset compiling the tiny model, described by `pimc systems`, or swept."""
    name = rnd.choice(SYSTEM_SEEDS)
    doc = copy.deepcopy(_SYSTEM_CACHE.setdefault(name, tomllib.loads((PRESETS / f"{name}.toml").read_text())))
    mutate_system(rnd, doc)
    path = workdir / f"{name}.toml"
    text = dump_toml(doc)
    if rnd.random() > 0.95:
        text = text[: rnd.randrange(len(text) + 1)]
    path.write_text(text)
    out = workdir / "out"
    mode = rnd.random()
    if mode > 0.85:
        return ["systems", str(path)], []
    if mode > 0.8:
        return [
            "sweep",
            str(TINY),
            "--system",
            str(path),
            "--strategy",
            rnd.choice(FAST),
            "--dim",
            f"past_sequence_length={rnd.choice(['1,2', '4', '0,1'])}",
            "-o",
            str(out),
        ], [out]
    strategy = _strategy(rnd) if rnd.random() < 0.7 else ["--strategy", rnd.choice(STRATEGIES), "--no-baselines"]
    return ["compile", str(TINY), "--system", str(path), *strategy, "-o", str(out)], [out]


# -- command lines ---------------------------------------------------------------------------


def _arg_value(rnd: random.Random, workdir: Path) -> str:
    return rnd.choice(
        [
            "1",
            "0",
            "-1",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "abc",
            "",
            "2",
            "64",
            "1e308",
            "0.5",
            str(TINY),
            str(workdir / "missing.onnx"),
            str(workdir),
            "npu-aim",
            "nosuch",
            "aim,attacc",
            "x=1",
            "--dim",
            "optimal",
            "pim-only",
            "fp16",
            "f16",
            str(REPO / "examples" / "gpt2-small.pim"),
            str(workdir / "notadir" / "out"),
        ]
    )


def cli_case(rnd: random.Random, workdir: Path) -> tuple[list[str], list[Path]]:
    """A command line: options with odd values, bad --dim specs, odd output paths, `pimc run` inputs."""
    out = workdir / "out"
    kind = rnd.choice(["compile", "compile", "compile", "dims", "output", "run", "opt", "sweep", "systems", "junk"])
    if kind == "junk":
        argv = [rnd.choice(["", "compile", "frobnicate", "--help", "-h", "opt", "run", "sweep", "systems", "-x"])]
        argv += [_arg_value(rnd, workdir) for _ in range(rnd.randrange(4))]
        if "--help" in argv or "-h" in argv:
            argv = [a for a in argv if a not in ("--help", "-h")] or ["systems"]
        return argv, [out, workdir / "sweep"]  # the default output directories, in the case's working directory
    if kind == "dims":
        dims = [
            f"{rnd.choice(['past_sequence_length', 'batch', 'seq', '', '=', 'a b', 'x'])}"
            f"{rnd.choice(['=', '=', '', '=='])}{dim_value(rnd)}"
            for _ in range(rnd.randrange(1, 4))
        ]
        model = rnd.choice([str(TINY), str(REPO / "examples" / "gpt2-small.pim")])
        argv = (
            ["compile", model, "--strategy", "roofline", "--no-baselines", "--dim", "layers=1"]
            if model.endswith(".pim")
            else ["compile", model, "--strategy", "roofline", "--no-baselines"]
        )
        for d in dims:
            argv += ["--dim", d]
        return argv + ["-o", str(out)], [out]
    if kind == "output":
        (workdir / "afile").write_text("x")
        (workdir / "dirwithreport" / "report.json").mkdir(parents=True, exist_ok=True)
        target = rnd.choice(
            [
                workdir / "afile",
                workdir / "afile" / "sub",
                Path("/proc/pimc-fuzz"),
                Path("/sys/pimc-fuzz"),
                workdir / ("x" * 300),
                workdir / "dirwithreport",
                Path("/dev/null"),
            ]
        )
        created = [] if exists(target) or not exists(target.parent) else [target]
        if target.name == "dirwithreport":
            created = []
        return ["compile", str(TINY), "--strategy", "roofline", "--no-baselines", "-o", str(target)], created
    if kind == "run":
        return _run_inputs_case(rnd, workdir), []
    if kind == "opt":
        passes = [
            "raise-nn",
            "annotate-cost",
            "partition",
            "lower-to-pim",
            "convert-pim-to-aim",
            "convert-pim-to-attacc",
            "canonicalize",
            "bogus",
        ]
        options = [
            "",
            "{strategy=bogus}",
            "{strategy=pim-only}",
            "{system=nosuch}",
            "{dtype=fp7}",
            "{dtype=int8}",
            "{system=groq-lpu}",
            "{papi_threshold=-1}",
            "{strategy=",
            "{sub_batches=0}",
            "{strategy=gpu-only}",
        ]
        spec = ",".join(rnd.choice(passes) + rnd.choice(options) for _ in range(rnd.randrange(1, 5)))
        return ["opt", str(TINY), "-p", spec], []
    if kind == "sweep":
        return [
            "sweep",
            str(TINY),
            "--system",
            rnd.choice(["npu-aim", "nosuch", "attacc:gpu-only", "npu-aim:bogus"]),
            "--strategy",
            rnd.choice(["roofline", "bogus"]),
            "--dim",
            rnd.choice(
                [
                    "past_sequence_length=1,2",
                    "past_sequence_length=",
                    "batch=1",
                    "x=1,,2",
                    "past_sequence_length=0,-1",
                    "system=1",
                ]
            ),
            "-o",
            str(out),
        ], [out]
    if kind == "systems":
        return ["systems", rnd.choice(["npu-aim", "nosuch", str(TINY), str(workdir), ""])], []
    options = {
        "--system": ["npu-aim", "nosuch", str(TINY), str(workdir), "attacc", "groq-lpu"],
        "--strategy": ["optimal", "bogus", *FAST, "pim-only", "gpu-only"],
        "--speculate": ["0", "1", "-3", "x", "4"],
        "--sub-batches": ["0", "1", "2", "1000000", "nan"],
        "--papi-threshold": ["nan", "inf", "-1", "0", "4", "1e400", "x"],
        "--dtype": ["fp16", "fp7", "int8"],
        "--emit": ["aim", "attacc", "", ",", "x", "aim,aim"],
        "--dim": ["past_sequence_length=3", "x"],
    }
    argv = [
        "compile",
        rnd.choice([str(TINY), str(TINY), str(workdir / "missing.onnx"), str(workdir), str(REPO / "README.md")]),
        "--no-baselines",
        "--strategy",
        "roofline",
    ]
    for opt in rnd.sample(sorted(options), rnd.randrange(1, 4)):
        argv += [opt, rnd.choice(options[opt])]
    return argv + ["-o", str(out)], [out]


def _run_inputs_case(rnd: random.Random, workdir: Path) -> list[str]:
    model = REPO / "tests" / "models" / "gpt2-decode-opt.onnx"
    m = _ONNX_CACHE.setdefault(model, model.read_bytes())
    graph = onnx.ModelProto.FromString(m).graph
    inits = {i.name for i in graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for vi in graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        feeds[vi.name] = np.zeros(shape, dtype) if dtype.kind != "f" else np.ones(shape, dtype)
    name = rnd.choice(sorted(feeds))
    what = rnd.choice(["ids", "ids", "dtype", "shape", "nan", "missing", "extra", "notnpz"])
    ids = next((n for n in feeds if "ids" in n), name)
    if what == "ids":
        feeds[ids] = np.full(feeds[ids].shape, rnd.choice([512, 513, -1, -512, -513, 2**40, 511]), feeds[ids].dtype)
    elif what == "dtype":
        feeds[name] = feeds[name].astype(rnd.choice([np.float64, np.int32, np.bool_, np.float16]))
    elif what == "shape":
        feeds[name] = np.zeros((2, *feeds[name].shape), feeds[name].dtype)
    elif what == "nan":
        f = next((n for n in feeds if feeds[n].dtype.kind == "f"), name)
        feeds[f] = np.full(feeds[f].shape, rnd.choice([np.nan, np.inf]), feeds[f].dtype)
    elif what == "missing":
        del feeds[name]
    elif what == "extra":
        feeds["extra"] = np.zeros(1)
    path = workdir / "inputs.npz"
    if what == "notnpz":
        path.write_bytes(b"PK\x03\x04garbage")
    else:
        np.savez(path, allow_pickle=True, **feeds)
    return ["run", str(model), "--strategy", "roofline", "--inputs", str(path)]


KNOWN_BUGS: dict[str, str] = {}
"""Failures whose root cause is in code this suite does not own; the cases avoid them until they are fixed."""


# -- IR files for `pimc opt` ------------------------------------------------------------------

_STAGES = {
    "raised": "raise-nn",
    "costed": "annotate-cost",
    "placed": "annotate-cost,partition{strategy=roofline}",
    "lowered": "annotate-cost,partition{strategy=pim-only},schedule,lower-to-pim",
    "commands": "annotate-cost,partition{strategy=roofline},schedule,lower-to-pim,convert-pim-to-aim,convert-pim-to-attacc",
}
_IR_CACHE: dict[str, str] = {}
_IR_TOKEN = re.compile(r"\d+|[A-Za-z_][A-Za-z0-9_.]*|\S")
_PIPELINE = [
    "annotate-cost",
    "annotate-cost{dtype=int8}",
    "annotate-cost{system=attacc}",
    "partition{strategy=roofline}",
    "partition{strategy=pim-only}",
    "partition{strategy=gpu-only}",
    "partition{strategy=greedy}",
    "schedule",
    "schedule{sub_batches=2}",
    "lower-to-pim",
    "convert-pim-to-aim",
    "convert-pim-to-attacc",
    "raise-nn",
]


def _stage_ir(stage: str) -> str:
    if stage not in _IR_CACHE:
        from pimc.compiler.opt import run_opt

        _IR_CACHE[stage] = run_opt(str(TINY), _STAGES[stage], False)
    return _IR_CACHE[stage]


def ir_case(rnd: random.Random, workdir: Path) -> tuple[list[str], list[Path]]:
    """The tiny model's IR after some passes, mutated (dims, numbers, names, deleted lines), through a pipeline."""
    stage = rnd.choice(sorted(_STAGES))
    lines = _stage_ir(stage).split("\n")
    for _ in range(rnd.choice([1, 1, 2, 3])):
        i = rnd.randrange(len(lines))
        what = rnd.choice(["number", "number", "number", "name", "delete", "duplicate", "dim", "dim"])
        tokens = [(m.start(), m.end()) for m in _IR_TOKEN.finditer(lines[i])]
        if what in ("number", "name", "dim") and tokens:
            if what == "dim":
                dims = [m.span(1) for m in re.finditer(r"(?<=[<x])(\d+)(?=x)", lines[i])]
                if not dims:
                    continue
                a, b = rnd.choice(dims)
                new = rnd.choice(["0", "?", "7", "1", "65", str(2**40), str(10**16)])
            elif what == "number":
                numbers = [t for t in tokens if lines[i][t[0]].isdigit()] or tokens
                a, b = rnd.choice(numbers)
                new = rnd.choice(["0", "-1", "1", "3", "9999999", "1.0e+300", "nan", "inf", str(2**63), "65536"])
            else:
                a, b = rnd.choice(tokens)
                new = rnd.choice(["npu", "pim", "gpu", "nope", "decode", "prefill", "nn.add", "aim.mac_abk", '"x"'])
            lines[i] = lines[i][:a] + new + lines[i][b:]
        elif what == "delete":
            del lines[i]
        elif what == "duplicate":
            lines.insert(i, lines[i])
    path = workdir / "ir.mlir"
    path.write_text("\n".join(lines))
    passes = [rnd.choice(_PIPELINE) for _ in range(rnd.randrange(1, 4))]  # any pass on any stage's IR
    return ["opt", str(path), "-p", ",".join(passes)], []


FAMILIES: dict[str, Callable[[random.Random, Path], tuple[list[str], list[Path]]]] = {
    "onnx": onnx_case,
    "dsl": dsl_case,
    "system": system_case,
    "cli": cli_case,
    "ir": ir_case,
}


def fuzz_one(family: str, rnd: random.Random, workdir: Path) -> Outcome:
    """Build a case of `family` in a fresh `workdir`, run it, clean up its files."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    argv, outputs = FAMILIES[family](rnd, workdir)
    cwd = os.getcwd()
    os.chdir(workdir)  # a command line without -o writes ./out or ./sweep: here, not in the repository
    try:
        return run_case(argv, outputs, render_png=rnd.random() > 0.97)
    finally:
        os.chdir(cwd)
        shutil.rmtree(workdir, ignore_errors=True)


def _explore(cases: int, seed: int) -> int:
    """Run `cases` random cases without hypothesis; print one reproducer per distinct failure."""
    import tempfile
    import warnings

    warnings.simplefilter("error")  # as pytest's filterwarnings = error
    rnd = random.Random(seed)
    failures: dict[str, Outcome] = {}
    counts: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    messages: dict[str, int] = {}
    slowest: list[tuple[float, list[str]]] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cases):
            family = rnd.choice(list(FAMILIES))
            case_seed = rnd.randrange(2**32)
            r = fuzz_one(family, random.Random(case_seed), Path(tmp) / "case")
            slowest = sorted([*slowest, (r.seconds, r.argv)], reverse=True)[:5]
            outcomes[f"{family} {r.status}"] = outcomes.get(f"{family} {r.status}", 0) + 1
            first = next((ln for ln in r.err.splitlines() if ln.startswith("pimc: error:")), "")
            located = re.sub(r"^.*?(\.onnx|\.pim|\.toml)(:\d+:\d+)?: ", "", first)
            key = re.sub(r"'[^']*'|\d+(\.\d+)?(e[+-]?\d+)?", "_", located)[:90]
            messages[f"{family}: {key}"] = messages.get(f"{family}: {key}", 0) + 1
            if r.problems:
                key = f"{family}: {r.signature()}"
                counts[key] = counts.get(key, 0) + 1
                if key not in failures:
                    failures[key] = r
                    print(f"--- case {i} ({family}, seed {case_seed}): {key}\n{r.report()}", flush=True)
    print(f"{cases} cases in {time.monotonic() - start:.1f} s; {sum(counts.values())} failed, {len(failures)} distinct")
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:5d}  {key}")
    print("slowest:", *(f"  {s:.1f} s {a}" for s, a in slowest), sep="\n")
    print("outcomes:", dict(sorted(outcomes.items())))
    if os.environ.get("PIMC_FUZZ_MESSAGES"):
        for key, n in sorted(messages.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5d}  {key}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_explore(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 0))
