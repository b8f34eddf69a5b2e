"""Every class of bad input a fuzz run found is one `pimc: error:` line, exit status 1, and no output.

One test per class (the fuzz suite in tests/fuzz/ explores around them): ONNX initializers whose data
does not match their dims or dtype, negative dims, dangling names and cycles, unsupported opsets,
truncated files; empty, negative and huge `--dim` values and DSL numbers, refused by a bound before
the IR is built or costed; system descriptions with non-finite or out-of-range numbers; out-of-range
token ids for `pimc run`; non-finite command-line numbers; pass failures under `pimc opt` and stock
`xdsl-opt`; output directories that cannot be written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pimc.compiler.cli import main
from pimc.compiler.driver import write_files
from pimc.errors import PimcError, SystemConfigError
from pimc.targets.system import parse_system

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "gpt2-tiny-decode.onnx"
GPT2 = REPO / "examples" / "gpt2-small.pim"
LLAMA = REPO / "examples" / "llama2-7b.pim"
FAST = ["--strategy", "roofline", "--no-baselines"]


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """Run pimc; it must fail with one error line holding every `expected` text; return that line."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("pimc: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _model(path: Path, nodes, inputs, inits=(), opset: int = 17) -> Path:
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [y], list(inits))
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString())
    return path


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
W = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")


# -- ONNX models ---------------------------------------------------------------------


def _disagreeing(dims=None, dtype=None) -> TensorProto:
    t = numpy_helper.from_array(np.ones(64, np.float32), "b")
    if dims is not None:
        t.dims[:] = dims
    if dtype is not None:
        t.data_type = dtype
    return t


@pytest.mark.parametrize(
    ("init", "message"),
    [
        (_disagreeing(dims=[129]), "initializer 'b' [129] of dtype FLOAT: 256 bytes of data, 129 elements need 516"),
        (_disagreeing(dtype=TensorProto.INT64), "initializer 'b' [64] of dtype INT64: 256 bytes of data"),
        (_disagreeing(dims=[-5]), "initializer 'b' has shape [-5]: dim 0 is negative (-5)"),
        (_disagreeing(dtype=TensorProto.STRING), "initializer 'b' has unsupported dtype STRING"),
    ],
)
def test_initializer_data_must_match_its_dims_and_dtype(tmp_path: Path, capsys, init, message: str) -> None:
    model = _model(tmp_path / "m.onnx", [helper.make_node("Add", ["x", "b"], ["y"])], [X], [init])
    out = tmp_path / "out"
    _fails(["compile", str(model), *FAST, "-o", str(out)], capsys, message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("nodes", "inputs", "message"),
    [
        (
            [helper.make_node("MatMul", ["x", "w"], ["y"])],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [-5, 64])],
            "graph input 'x' has dim 0 = -5",
        ),
        ([helper.make_node("MatMul", ["x", "nope"], ["y"])], [X], "input 'nope' is used before it is defined"),
        ([helper.make_node("MatMul", ["x", "w"], ["z"])], [X], "graph output 'y' is produced by no node"),
        (
            [
                helper.make_node("Add", ["x", "b"], ["a"]),
                helper.make_node("Add", ["a", "x"], ["b"]),
                helper.make_node("MatMul", ["a", "w"], ["y"]),
            ],
            [X],
            "node 'Add_0' (Add): input 'b' is used before",
        ),
        (
            [
                helper.make_node("Relu", ["x"], ["a"]),
                helper.make_node("Relu", ["x"], ["a"]),
                helper.make_node("MatMul", ["a", "w"], ["y"]),
            ],
            [X],
            "value 'a' is defined twice",
        ),
    ],
)
def test_malformed_graphs_name_the_value(tmp_path: Path, capsys, nodes, inputs, message: str) -> None:
    model = _model(tmp_path / "m.onnx", nodes, inputs, [W])
    _fails(["compile", str(model), *FAST, "-o", str(tmp_path / "out")], capsys, message)


@pytest.mark.parametrize("opset", [0, 99, 10**6])
def test_unsupported_opset(tmp_path: Path, capsys, opset: int) -> None:
    model = _model(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])], [X], [W], opset=opset)
    _fails(["compile", str(model), *FAST, "-o", str(tmp_path / "out")], capsys, f"ONNX opset {opset} is not supported")


def test_truncated_and_corrupted_files(tmp_path: Path, capsys) -> None:
    data = TINY.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 3])
    _fails(["compile", str(cut), *FAST, "-o", str(tmp_path / "o1")], capsys, "cut.onnx")
    flipped = tmp_path / "flipped.onnx"  # a node name that is not UTF-8: protobuf hands it over as bytes
    flipped.write_bytes(data.replace(b"/h.0/ln_1/", b"/h.0/ln\xff1/", 1))
    _fails(["compile", str(flipped), *FAST, "-o", str(tmp_path / "o2")], capsys, "flipped.onnx", "not valid UTF-8")


def test_folding_never_builds_a_huge_constant(tmp_path: Path, capsys) -> None:
    """ConstantOfShape [1e5, 1e5] and Range(0, 1e12) are not evaluated: their shapes are refused."""
    shape = numpy_helper.from_array(np.array([100000, 100000], np.int64), "s")
    model = _model(
        tmp_path / "c.onnx",
        [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("MatMul", ["c", "w"], ["y"])],
        [],
        [shape, W],
    )
    start = time.monotonic()
    _fails(["compile", str(model), *FAST, "-o", str(tmp_path / "o")], capsys)
    assert time.monotonic() - start < 10


def test_onnx_dims_are_bounded(capsys) -> None:
    _fails(
        [
            "compile",
            str(REPO / "tests/models/gpt2-decode-dynamic.onnx"),
            "--dim",
            "batch=0",
            "--dim",
            "seq=1",
            "--dim",
            "past=7",
            *FAST,
        ],
        capsys,
        "given --dim batch=0",
    )
    _fails(
        [
            "compile",
            str(REPO / "tests/models/gpt2-decode-dynamic.onnx"),
            "--dim",
            "batch=1",
            "--dim",
            f"seq={2**63}",
            "--dim",
            "past=7",
            *FAST,
        ],
        capsys,
        "more than any memory can hold",
    )


# -- DSL programs and --dim --------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        ("seq=0", "a dim of 'ids' is 0; pimc compiles no empty tensors (given --dim seq=0)"),
        ("batch=0", "a dim of 'ids' is 0; pimc compiles no empty tensors (given --dim batch=0)"),
        ("batch=-1", "--dim batch=-1: not a non-negative integer"),
        ("batch=²", "--dim batch=²: not a non-negative integer"),
        (f"hidden={2**63}", "more than any memory can hold"),
        ("batch=" + "9" * 5000, "--dim batch=99999999...(5000 digits): more than any memory can hold"),
    ],
)
def test_dsl_dims_are_checked(tmp_path: Path, capsys, dim: str, message: str) -> None:
    out = tmp_path / "out"
    _fails(["compile", str(GPT2), *FAST, "--dim", dim, "-o", str(out)], capsys, message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        (
            "layers=100000",
            "repeat 100,000 would build 2.4e6 ops (24 per iteration), more than the 50,000 pimc compiles",
        ),
        (
            "past=100000000",
            "the memories of system 'npu-aim' (gddr6 17.2 GB + hbm 40 GB = 57.2 GB) cannot hold the model "
            "in decode, whatever the placement: weights 13.5 GB",
        ),
        ("layers=1000000000", "the repeat count is 1e9; pimc unrolls at most 1e6 iterations"),
    ],
)
def test_sizes_no_memory_holds_are_refused_early(tmp_path: Path, capsys, dim: str, message: str) -> None:
    start = time.monotonic()
    _fails(["compile", str(LLAMA), *FAST, "--dim", dim, "-o", str(tmp_path / "out")], capsys, message)
    assert time.monotonic() - start < 5  # refused before the IR is built or costed


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("param hidden = 99999999999999999999", "the integer 99999999999999999999 is outside the 64-bit range"),
        ("param hidden = 4294967296 * 4294967296", "4294967296 * 4294967296 is outside the 64-bit integer range"),
        (
            "param hidden = 1000000000",
            "weight 'c_attn' [1000000000, 3000000000] has 3e18 elements, more than any memory",
        ),
    ],
)
def test_huge_dsl_numbers(tmp_path: Path, capsys, line: str, message: str) -> None:
    text = GPT2.read_text().replace("param hidden = 768", line)
    path = tmp_path / "g.pim"
    path.write_text(text)
    _fails(["compile", str(path), *FAST, "--dim", "layers=1", "-o", str(tmp_path / "out")], capsys, message)


def test_dsl_errors_keep_their_source_line_and_caret(tmp_path: Path, capsys) -> None:
    assert main(["compile", str(GPT2), *FAST, "--dim", "seq=0", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[0].startswith("pimc: error:") and err[2].strip() == "^"


# -- system descriptions --------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e300, 0, -1, 1e-300, 2**62])
@pytest.mark.parametrize(
    "key",
    [
        "memories.dram.capacity_gb",
        "memories.dram.bandwidth_gbps",
        "devices.npu.clock_ghz",
        "devices.npu.array_rows",
        "devices.pim.tck_ns",
        "devices.pim.channels",
        "devices.gpu.compute_efficiency",
        "links.0.bandwidth_gbps",
    ],
)
def test_system_numbers_are_finite_and_in_range(test_system: Path, key: str, value: float) -> None:
    import tomllib

    doc = tomllib.loads(test_system.read_text())
    table: Any = doc  # tables and arrays of tables
    *path, last = key.split(".")
    for k in path:
        table = table[int(k)] if k.isdigit() else table[k]
    if isinstance(table[last], int) and isinstance(value, float) and value.is_integer():
        value = int(value)
    table[last] = value
    name = key.replace("links.0", "links[0]")
    with pytest.raises(SystemConfigError, match=re.escape(f"t.toml: {name}: ")):
        parse_system(doc, "t.toml")


def test_a_system_toml_with_nan_is_one_line(tmp_path: Path, test_system: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(test_system.read_text().replace("capacity_gb = ", "capacity_gb = nan # ", 1))
    _fails(
        ["compile", str(TINY), "--system", str(bad), *FAST, "-o", str(tmp_path / "o")],
        capsys,
        "capacity_gb: must be a finite number, got nan",
    )


def test_json_outputs_never_hold_nan(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(PimcError, match=r"report\.json would hold NaN"):
        write_files({"report.json": json.dumps({"latency_ns": float("nan")})}, out)
    assert not out.exists()


# -- pimc run, command-line numbers -------------------------------------------------------------


def test_run_refuses_out_of_range_token_ids(tmp_path: Path, capsys) -> None:
    model = REPO / "tests" / "models" / "gpt2-decode-opt.onnx"
    graph = onnx.load(str(model), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    feeds = {}
    for vi in graph.input:
        if vi.name not in inits:
            shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
            feeds[vi.name] = np.zeros(shape, dtype)
    feeds["input_ids"] = np.full(feeds["input_ids"].shape, 512, np.int64)
    path = tmp_path / "in.npz"
    np.savez(path, **feeds)
    _fails(
        ["run", str(model), "--strategy", "roofline", "--inputs", str(path)],
        capsys,
        "input 'input_ids' holds 512 at [0, 0], outside the 512 rows of",
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--papi-threshold", "nan", "argument --papi-threshold: expected a finite number, got 'nan'"),
        ("--papi-threshold", "-1", "argument --papi-threshold: must be > 0, got -1"),
        ("--sub-batches", "100000", "argument --sub-batches: must be at most 64"),
        ("--speculate", "0", "argument --speculate: must be >= 1, got 0"),
        ("--bogus", "1", "unrecognized arguments: --bogus 1"),
    ],
)
def test_command_line_numbers(tmp_path: Path, capsys, option: str, value: str, message: str) -> None:
    out = tmp_path / "out"
    _fails(["compile", str(TINY), *FAST, option, value, "-o", str(out)], capsys, message)
    assert not out.exists()


def test_run_seed_and_tolerance_are_checked(capsys) -> None:
    _fails(["run", str(TINY), "--seed", "-1"], capsys, "argument --seed: must be >= 0")
    _fails(["run", str(TINY), "--tolerance", "nan"], capsys, "argument --tolerance: expected a finite number")


# -- pass failures: pimc opt and stock xdsl-opt -----------------------------------------------------


@pytest.fixture(scope="module")
def raised_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pimc.compiler.opt import run_opt

    path = tmp_path_factory.mktemp("ir") / "tiny.mlir"
    path.write_text(run_opt(str(TINY), "raise-nn", False))
    return path


PASS_FAILURES = [
    ("partition{strategy=bogus}", "partition: unknown strategy 'bogus'"),
    ("annotate-cost{dtype=fp7}", "unknown dtype 'fp7'"),
    ("partition", "has no cost: run annotate-cost first"),
    ("annotate-cost{system=nosuch}", "system 'nosuch': neither a preset"),
]


@pytest.mark.parametrize(
    ("spec", "message"),
    [*PASS_FAILURES, ("partition{strategy=", "pass pipeline 'partition{strategy=': Unknown argument value")],
)
def test_pimc_opt_pass_failures(raised_ir: Path, capsys, spec: str, message: str) -> None:
    _fails(["opt", str(raised_ir), "-p", spec], capsys, message)


def test_pimc_errors_are_xdsl_diagnostics() -> None:
    from xdsl.utils.exceptions import DiagnosticException

    assert issubclass(PimcError, DiagnosticException)


@pytest.mark.parametrize(("spec", "message"), PASS_FAILURES)
def test_stock_xdsl_opt_prints_pimc_errors_as_one_line(raised_ir: Path, spec: str, message: str) -> None:
    xdsl_opt = Path(sys.executable).with_name("xdsl-opt")
    if not xdsl_opt.exists():
        pytest.skip("xdsl-opt is not installed next to this python")
    run = subprocess.run([str(xdsl_opt), str(raised_ir), "-p", spec], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and run.stderr.startswith("xdsl-opt: error: ")
    assert message in run.stderr
    diag = subprocess.run(
        [str(xdsl_opt), "--verify-diagnostics", str(raised_ir), "-p", spec], capture_output=True, text=True, timeout=120
    )
    assert diag.returncode == 0 and message in diag.stdout and "Traceback" not in diag.stderr


# -- IR files: costs and placements are checked where partition and schedule read them ---------------------


@pytest.fixture(scope="module")
def stage_ir() -> dict[str, str]:
    """The tiny model's IR costed, placed by roofline on npu-aim, placed by pim-only on attacc (with transfers
    between the GPU's HBM and the PIM stacks), and a two-phase DSL model placed by hybe (with KV hand-offs)."""
    from pimc.compiler.opt import run_opt

    return {
        "costed": run_opt(str(TINY), "annotate-cost", False),
        "placed": run_opt(str(TINY), "annotate-cost,partition{strategy=roofline}", False),
        "transfers": run_opt(str(TINY), "annotate-cost{system=attacc},partition{strategy=pim-only}", False),
        "handoffs": run_opt(
            str(GPT2),
            "annotate-cost{system=hybe},partition{strategy=hybe}",
            False,
            dims={"layers": "1", "seq": "8", "past": "7"},
        ),
    }


def _sub(text: str, pattern: str, repl: str) -> str:
    """`text` with the first match of `pattern` replaced (which must match)."""
    out, n = re.subn(pattern, repl, text, count=1)
    assert n == 1, pattern
    return out


_LN = r'(name = "/h.0/ln_1/LayerNormalization".*?device = #place.device<)"npu"'
_EXTRA_HANDOFF = (
    '\\1\n    %zz = place.transfer %past_key {kv_handoff, src = #place.device<"gpu">, '
    'dst = #place.device<"pim">} : tensor<1x4x15x16xf32> -> tensor<1x4x15x16xf32>'
)

IR_FAILURES = [
    # schedule trusts no placement: a device the system lacks, one without a cost for the op, a non-device
    (
        "placed",
        r'#place.device<"npu">',
        '#place.device<"nope">',
        "schedule",
        "op '/wte/Gather' is placed on device 'nope', which system 'npu-aim' does not have (devices: npu, pim, gpu)",
    ),
    (
        "placed",
        _LN,
        r'\1"pim"',
        "schedule",
        "schedule: op '/h.0/ln_1/LayerNormalization' is placed on device 'pim', which has no cost for it "
        "(devices with a cost: npu, gpu)",
    ),
    (
        "placed",
        r'device = #place.device<"npu">',
        'device = "npu"',
        "schedule",
        "op '/wte/Gather': its device attribute is \"npu\", not a #place.device",
    ),
    (
        "transfers",
        r'dst = #place.device<"pim">',
        'dst = #place.device<"npu">',
        "schedule",
        "place.transfer of %h_0_ln of op '/h.0/ln_1/LayerNormalization': dst device 'npu' is not a device of system "
        "'attacc' (devices: gpu, pim)",
    ),
    (
        "transfers",
        r"(func.func @decode\(.*\{)\n",
        _EXTRA_HANDOFF,
        "schedule",
        "schedule: a KV hand-off (place.transfer {kv_handoff}) of %past_key in @decode does not copy the result of a "
        "costed op of that function",
    ),
    (
        "handoffs",
        r'(src = #place.device<)"gpu">, (dst = #place.device<)"npu">(, kv_handoff)',
        r'\1"npu">, \2"gpu">\3',
        "schedule",
        "schedule: the KV hand-off of op 'layers.0.present_k.split_heads' goes to memory gpu_hbm, and the op's "
        "memory gpu_hbm is already there",
    ),
    # partition trusts no cost figure: negative, infinite, NaN, not a float, a table or an entry missing,
    # devices of another system
    (
        "costed",
        r"latency_ns = \{npu = [^,}]*",
        "latency_ns = {npu = -1.0 : f64",
        "partition{strategy=greedy}",
        "op '/wte/Gather': cost latency_ns.npu = -1.0 ns: must be finite and non-negative",
    ),
    (
        "costed",
        r"energy_pj = \{npu = [^,}]*",
        "energy_pj = {npu = 1.0e+400 : f64",
        "partition{strategy=roofline}",
        "op '/wte/Gather': cost energy_pj.npu = inf pJ: must be finite and non-negative",
    ),
    (
        "costed",
        r"latency_ns = \{npu = [^,}]*",
        "latency_ns = {npu = 0x7FF8000000000000 : f64",
        "partition{strategy=optimal}",
        "op '/wte/Gather': cost latency_ns.npu = nan ns",
    ),
    (
        "costed",
        r"latency_ns = \{npu = [^,}]*",
        "latency_ns = {npu = 3 : i64",
        "partition{strategy=roofline}",
        "op '/wte/Gather': cost latency_ns.npu is 3 : i64, not a float (ns)",
    ),
    (
        "costed",
        r", energy_pj = \{[^}]*\}",
        "",
        "partition{strategy=roofline}",
        "op '/wte/Gather': its cost has no `energy_pj` table: run annotate-cost again",
    ),
    (
        "costed",
        r"(energy_pj = \{npu = [^,}]*), pim = [^,}]*",
        r"\1",
        "partition{strategy=greedy}",
        "op '/h.0/attn/c_attn/MatMul': cost energy_pj has no entry for device 'pim', which latency_ns has",
    ),
    (
        "costed",
        r"latency_ns = \{",
        "latency_ns = {tpu = 1.0 : f64, ",
        "partition{strategy=greedy}",
        "op '/wte/Gather': cost latency_ns names device 'tpu', which system 'npu-aim' does not have",
    ),
    (
        "costed",
        r"cost = \{",
        "cost = [1], oldcost = {",
        "partition{strategy=greedy}",
        "op '/wte/Gather': its cost attribute is not a dictionary",
    ),
    (
        "costed",
        r"x",
        "x",
        "partition{strategy=papi papi_threshold=-1.0}",
        "partition: papi_threshold must be a finite, positive number of tokens, got -1.0",
    ),
]


@pytest.mark.parametrize(
    ("stage", "pattern", "repl", "spec", "message"), IR_FAILURES, ids=[f"{f[3]}: {f[4][:60]}" for f in IR_FAILURES]
)
def test_ir_costs_and_placements_are_checked(
    stage_ir: dict[str, str], tmp_path: Path, capsys, stage: str, pattern: str, repl: str, spec: str, message: str
) -> None:
    path = tmp_path / "ir.mlir"
    path.write_text(_sub(stage_ir[stage], pattern, repl))
    _fails(["opt", str(path), "-p", spec], capsys, message)


def test_papi_threshold_must_be_finite_and_positive() -> None:
    from xdsl.context import Context

    from pimc.compiler.opt import parse_input
    from pimc.passes.annotate_cost import AnnotateCostPass
    from pimc.passes.partition import PartitionPass

    module = parse_input(str(TINY))
    AnnotateCostPass().apply(Context(), module)
    for bad in (float("nan"), float("inf"), -float("inf"), 0.0, -1.0):
        with pytest.raises(PimcError, match="papi_threshold must be a finite, positive number of tokens"):
            PartitionPass(strategy="papi", papi_threshold=bad).apply(Context(), module)
    PartitionPass(strategy="papi", papi_threshold=2.5).apply(Context(), module)


def test_a_placement_across_unlinked_memories_is_refused() -> None:
    """The execution model needs a link wherever an op reads a value from another memory."""
    from pimc.targets.placement.execution import PhaseGraph, check_placement

    doc = {
        "name": "two",
        "memories": {
            "a": {"capacity_gb": 1, "bandwidth_gbps": 100, "energy_pj_per_bit": 1},
            "b": {"capacity_gb": 1, "bandwidth_gbps": 100, "energy_pj_per_bit": 1},
        },
        "devices": {"x": {"preset": "gddr6-aim", "memory": "a"}, "y": {"preset": "gddr6-aim", "memory": "b"}},
    }
    system = parse_system(doc, "two.toml")
    graph = PhaseGraph(
        "decode",
        ["p", "q"],
        [{"x": 1.0, "y": 1.0}] * 2,
        [{"x": 1.0, "y": 1.0}] * 2,
        [[], [(0, 0)]],
        {(0, 0): 8, (1, 0): 8},
    )
    check_placement(graph, ["x", "x"], system)
    with pytest.raises(
        PimcError,
        match="op 'q' on 'y' \\(memory b\\) reads a result of op 'p' on 'x' \\(memory a\\), "
        "and system 'two' has no link between a and b",
    ):
        check_placement(graph, ["x", "y"], system)


def test_stock_xdsl_opt_refuses_a_placement_on_no_device(stage_ir: dict[str, str], tmp_path: Path) -> None:
    xdsl_opt = Path(sys.executable).with_name("xdsl-opt")
    if not xdsl_opt.exists():
        pytest.skip("xdsl-opt is not installed next to this python")
    path = tmp_path / "ir.mlir"
    path.write_text(_sub(stage_ir["placed"], r'#place.device<"npu">', '#place.device<"nope">'))
    run = subprocess.run([str(xdsl_opt), str(path), "-p", "schedule"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip() == (
        "xdsl-opt: error: op '/wte/Gather' is placed on device 'nope', which system "
        "'npu-aim' does not have (devices: npu, pim, gpu)"
    )


# -- output directories -------------------------------------------------------------------------


def test_unwritable_output_directories(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for target, message in [
        (afile, "File exists"),
        (afile / "sub", "Not a directory"),
        (tmp_path / ("x" * 300), "File name too long"),
        ("", "argument -o/--output: the output directory is an empty path"),
    ]:
        _fails(
            ["compile", str(TINY), *FAST, "-o", str(target)],
            capsys,
            "cannot write the outputs" if target else "",
            message,
        )
    if os.path.isdir("/proc/self"):
        _fails(["compile", str(TINY), *FAST, "-o", "/proc/pimc-out"], capsys, "/proc/pimc-out: cannot write")


def test_a_failed_write_leaves_no_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    out = tmp_path / "a" / "b" / "c"
    with pytest.raises(PimcError, match="c: cannot write the outputs: No space left on device"):
        write_files({"report.json": "{}\n"}, out)
    assert not (tmp_path / "a").exists()


def test_custom_domain_op_is_not_matched_as_a_standard_one(tmp_path: Path) -> None:
    """A Concat of a custom domain inside Falcon's rotate_half is kept as a generic op, not raised."""
    model = onnx.load(str(REPO / "tests" / "models" / "falcon-prefill-opt.onnx"))
    next(n for n in model.graph.node if n.name == "node_cat_6").domain = "custom"
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    assert main(["compile", str(path), "--strategy", "roofline", "--no-baselines", "-o", str(tmp_path / "o")]) == 0
