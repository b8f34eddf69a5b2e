"""Regressions for bugs found in review of the foundation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pimc.compiler.cli import main
from pimc.compiler.driver import compile_model, make_context
from pimc.compiler.frontend.onnx.importer import import_onnx
from pimc.dialects import nn, pim
from pimc.errors import CompileError, ModelImportError, SystemConfigError
from pimc.passes.partition import PartitionPass
from pimc.targets.models.pim_timing import layout_geometry
from pimc.targets.system import parse_system


def _model(tmp_path: Path, nodes, inputs, outputs, inits=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def _vi(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def test_node_with_wrong_arity_is_a_one_line_error(tmp_path: Path) -> None:
    path = _model(
        tmp_path, [helper.make_node("Add", ["a", "a", "a"], ["y"], name="add3")], [_vi("a", [4])], [_vi("y", [4])]
    )
    with pytest.raises(ModelImportError, match="node 'add3' \\(Add\\)"):
        import_onnx(path)


def test_gemm_with_full_c_is_not_placed_on_pim(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="g")],
        [_vi("x", [2, 256]), _vi("c", [2, 128])],  # C is a full 2x128 matrix, not a per-output bias
        [_vi("y", [2, 128])],
        [_w("w", 256, 128)],
    )
    devices = {e["name"]: e["device"] for e in compile_model(path).report["ops"]}
    assert devices["g"] != "pim"


def test_weight_read_in_two_orientations_gets_separate_rows(tmp_path: Path) -> None:
    path = _model(
        tmp_path,
        [
            helper.make_node("MatMul", ["x", "w"], ["y"], name="plain"),
            helper.make_node("Gemm", ["y", "w"], ["z"], name="transposed", transB=1),
        ],
        [_vi("x", [1, 2048])],
        [_vi("z", [1, 2048])],
        [_w("w", 2048, 16)],
    )
    result = compile_model(path)
    gemvs = {nn.op_label(op): op for op in result.module.walk() if isinstance(op, pim.GemvOp)}
    assert set(gemvs) == {"plain", "transposed"}
    assert result.system is not None
    spans = []
    for op in gemvs.values():
        _, k, n = op.mkn()
        base = op.layout.row_base.value.data
        spans.append(range(base, base + layout_geometry(op.layout, k, result.system.devices["pim"]).rows(k, n)))
    assert not set(spans[0]) & set(spans[1])


def test_partition_without_costs_is_an_error(example: Path) -> None:
    module = import_onnx(example)
    with pytest.raises(CompileError, match="run annotate-cost first"):
        PartitionPass().apply(make_context(), module)


def test_output_dir_that_is_a_file(tmp_path: Path, example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["compile", str(example), "-o", str(afile)]) == 1
    assert capsys.readouterr().err.startswith("pimc: error: ")


def test_failed_write_replaces_nothing(tmp_path: Path, example: Path) -> None:
    out = tmp_path / "out"
    (out / "plan.mlir").mkdir(parents=True)
    (out / "report.json").write_text("old")
    assert main(["compile", str(example), "-o", str(out)]) == 1
    assert (out / "report.json").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["plan.mlir", "report.json"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("channels", 64, "devices.pim.channels: AiM addresses at most 32 channels"),
        ("banks_per_channel", 32, "devices.pim.banks_per_channel: AiM has at most 16 banks"),
        ("column_bytes", 64, "devices.pim.column_bytes: AiM columns are 32 bytes"),
        ("row_bytes", 4096, "devices.pim.row_bytes: must be 1..64 whole 32-byte columns"),
    ],
)
def test_aim_device_limits(test_system: Path, key: str, value: int, message: str) -> None:
    doc = tomllib.loads(test_system.read_text())
    doc["devices"]["pim"][key] = value
    with pytest.raises(SystemConfigError, match=message):
        parse_system(doc, "t.toml")


@pytest.mark.parametrize(
    ("latency", "message"),
    [("slow", "expected float, got 'slow'"), (-5, "must be at least 0"), ([1], "expected float, got \\[1\\]")],
)
def test_link_latency_is_validated(test_system: Path, latency: object, message: str) -> None:
    doc = tomllib.loads(test_system.read_text())
    doc["links"][0]["latency_ns"] = latency
    with pytest.raises(SystemConfigError, match="links\\[0\\].latency_ns: " + message):
        parse_system(doc, "t.toml")
