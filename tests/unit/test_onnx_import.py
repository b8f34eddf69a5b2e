from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects.builtin import FloatAttr

from pimc.compiler.frontend.onnx.importer import import_onnx
from pimc.dialects import nn
from pimc.errors import ModelImportError


def _save(tmp_path: Path, graph: onnx.GraphProto, opset: int = 20) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path


def test_every_node_of_the_example_is_imported(example: Path) -> None:
    model = onnx.load(str(example), load_external_data=False)
    module = import_onnx(example)
    names = {nn.op_label(op) for op in module.walk() if "name" in op.attributes}
    assert {n.name for n in model.graph.node if n.op_type != "Constant"} <= names  # Constants fold away
    kinds = [type(op) for op in module.walk()]
    assert kinds.count(nn.MatMulOp) == 2 * 6  # per layer: qkv, qk, pv, proj, fc, fc-proj
    assert kinds.count(nn.GemmOp) == 1
    assert kinds.count(nn.LayerNormOp) == 2 * 2 + 1
    assert kinds.count(nn.SoftmaxOp) == 2
    assert kinds.count(nn.GeluOp) == 2
    generic = sorted(op.op_type.data for op in module.walk() if isinstance(op, nn.OnnxOp))
    assert generic == ["Split", "Split"]
    weights = {op.sym_name.data for op in module.walk() if isinstance(op, nn.WeightOp)}
    params = {i.name for i in model.graph.initializer if np.prod(i.dims) > 1 and i.data_type == TensorProto.FLOAT}
    assert params <= weights  # scalars become constants; int64 shape tensors fold into result types


def test_external_weights_are_never_read(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((64, 32), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    path = tmp_path / "ext.onnx"
    onnx.save(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0
    )
    (tmp_path / "w.bin").unlink()  # the weights are absent: only shapes are needed
    module = import_onnx(path)
    (weight,) = [op for op in module.walk() if isinstance(op, nn.WeightOp)]
    assert nn.tensor_shape(weight.result.type) == (64, 32)


def test_symbolic_dim_is_an_error_naming_value_and_node(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="act")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
    )
    with pytest.raises(ModelImportError, match="symbolic dim 'batch'"):
        import_onnx(_save(tmp_path, graph))


def test_unknown_op_is_kept_generic_with_attributes(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("LeakyRelu", ["x"], ["y"], name="leaky", alpha=0.2)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
    )
    (op,) = [op for op in import_onnx(_save(tmp_path, graph)).walk() if isinstance(op, nn.OnnxOp)]
    assert op.op_type.data == "LeakyRelu"
    alpha = op.onnx_attrs.data["alpha"]
    assert isinstance(alpha, FloatAttr) and alpha.value.data == pytest.approx(0.2)


def test_truncated_and_missing_files(tmp_path: Path, example: Path) -> None:
    truncated = tmp_path / "t.onnx"
    truncated.write_bytes(example.read_bytes()[:5000])
    with pytest.raises(ModelImportError, match=r"t\.onnx: not a readable ONNX model"):
        import_onnx(truncated)
    with pytest.raises(ModelImportError, match="no such file"):
        import_onnx(tmp_path / "absent.onnx")


def test_shape_inference_failure_is_reported(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="bad_mm")],
        "g",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 5]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    with pytest.raises(ModelImportError, match="shape inference failed"):
        import_onnx(_save(tmp_path, graph))
