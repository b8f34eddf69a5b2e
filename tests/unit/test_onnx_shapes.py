"""Shape resolution of exported graphs: --dim binding, folding of shape chains, clear errors, warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects import func

from pimc.compiler.cli import main
from pimc.compiler.driver import import_model, unmodelled_warning
from pimc.compiler.frontend.onnx.importer import import_onnx, load_onnx
from pimc.compiler.frontend.onnx.shapes import resolve_graph
from pimc.dialects import nn
from pimc.errors import ModelImportError


def _save(tmp_path: Path, graph: onnx.GraphProto, name: str = "m.onnx", opset: int = 18) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("custom", 1)])
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _const(name: str, values: list[int]) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))


def _symbolic_chain(tmp_path: Path) -> Path:
    """x [batch, seq, 8] -> reshape to [batch, seq, 2, 4] through Shape/Gather/Concat, as unoptimised exports do;
    plus a Range over seq and an Expand to [batch, seq] -- shapes only constant folding resolves."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        _const("i0", [0]),
        _const("i1", [1]),
        helper.make_node("Gather", ["shape", "i0"], ["b"], name="gather_b", axis=0),
        helper.make_node("Gather", ["shape", "i1"], ["s"], name="gather_s", axis=0),
        _const("tail", [2, 4]),
        helper.make_node("Concat", ["b", "s", "tail"], ["target"], name="concat_target", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["heads"], name="view"),
        helper.make_node("Squeeze", ["s"], ["s0"], name="squeeze_s"),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array(1, np.int64))),
        helper.make_node("Range", ["zero", "s0", "one"], ["pos"], name="arange"),
        helper.make_node("Concat", ["b", "s"], ["bs"], name="concat_bs", axis=0),
        helper.make_node("Expand", ["pos", "bs"], ["positions"], name="expand_pos"),
        helper.make_node("Identity", ["heads"], ["heads_out"], name="identity"),
    ]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8])],
        [
            helper.make_tensor_value_info("heads_out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("positions", TensorProto.INT64, None),
        ],
    )
    return _save(tmp_path, graph)


def test_dims_bind_and_shape_chains_fold(tmp_path: Path) -> None:
    path = _symbolic_chain(tmp_path)
    resolved = resolve_graph(load_onnx(path), path, {"batch": 4, "seq": 300})
    assert resolved.info["heads"].shape == (4, 300, 2, 4)
    assert resolved.info["positions"].shape == (4, 300)
    # only the data-carrying ops remain (the [4, 300] positions are too big to fold); the whole
    # shape computation was evaluated at compile time
    assert [n.op_type for n in resolved.nodes] == ["Reshape", "Expand"]
    assert list(resolved.consts["target"]) == [4, 300, 2, 4]
    module = import_onnx(path, {"batch": 4, "seq": 300})
    (fn,) = module.ops
    assert isinstance(fn, func.FuncOp)
    assert [nn.tensor_shape(t) for t in fn.function_type.outputs.data] == [(4, 300, 2, 4), (4, 300)]


def test_small_constant_computations_fold_to_values(tmp_path: Path) -> None:
    path = _symbolic_chain(tmp_path)
    resolved = resolve_graph(load_onnx(path), path, {"batch": 1, "seq": 4})
    # [1, 4] positions are 4 elements: the Range and Expand fold too, into a constant output
    assert [n.op_type for n in resolved.nodes] == ["Reshape"]
    assert resolved.consts["positions"].tolist() == [[0, 1, 2, 3]]


def test_an_unbound_symbolic_dim_is_an_error_naming_input_and_dim(tmp_path: Path) -> None:
    path = _symbolic_chain(tmp_path)
    with pytest.raises(
        ModelImportError,
        match=r"graph input 'x' has a symbolic dim 'batch'; bind every symbolic dim: --dim batch=N --dim seq=N$",
    ):
        import_onnx(path, {})
    with pytest.raises(ModelImportError, match=r"symbolic dim 'batch'; bind every symbolic dim: --dim batch=N$"):
        import_onnx(path, {"seq": 5})


def test_a_dim_the_graph_does_not_have_is_an_error_listing_the_dims(tmp_path: Path) -> None:
    path = _symbolic_chain(tmp_path)
    with pytest.raises(
        ModelImportError, match=r"--dim past names no symbolic dim of the graph inputs \(they have: batch, seq\)"
    ):
        import_onnx(path, {"batch": 1, "seq": 2, "past": 7})


def test_cli_dim_flag_reaches_the_frontend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _symbolic_chain(tmp_path)
    assert main(["compile", str(path), "--dim", "batch=2", "--dim", "seq=3", "-o", str(tmp_path / "out")]) == 0
    assert main(["compile", str(path), "--dim", "batch", "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "pimc: error: --dim batch: expected NAME=VALUE" in err
    assert main(["compile", str(path), "--dim", "batch=two", "--dim", "seq=3", "-o", str(tmp_path / "o3")]) == 1
    assert "--dim batch=two: an ONNX dim must be an integer" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_an_output_shape_nothing_can_resolve_is_an_error_naming_value_and_node(tmp_path: Path) -> None:
    # a custom-domain op has no schema: its output type comes from value_info, which is symbolic here
    node = helper.make_node("Mystery", ["x"], ["y"], name="mystery_node", domain="custom")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    with pytest.raises(
        ModelImportError, match=r"node 'mystery_node' \(Mystery\): output 'y' has an unresolvable dim 0 \('n'\)"
    ):
        import_onnx(_save(tmp_path, graph))


def test_unmodelled_ops_stay_generic_and_are_listed_in_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [
        helper.make_node("Mystery", ["x"], ["y"], name="m1", domain="custom"),
        helper.make_node("Mystery", ["y"], ["z"], name="m2", domain="custom"),
        helper.make_node("Det", ["z"], ["d"], name="det"),
        helper.make_node("Relu", ["z"], ["r"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
        [
            helper.make_tensor_value_info("d", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, None),
        ],
        value_info=[
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [3, 3]),
        ],
    )
    path = _save(tmp_path, graph)
    module = import_model(path)
    generic = [op.op_type.data for op in module.walk() if isinstance(op, nn.OnnxOp)]
    assert generic == ["Mystery", "Mystery", "Det", "Relu"]  # nothing vanished
    warning = unmodelled_warning(module)
    assert warning == (
        "3 op(s) of unmodelled type, kept as generic ops and costed as element-wise: "
        "Det x1 (det); custom.Mystery x2 (m1, m2)"
    )  # Relu is a known element-wise op: not listed
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pimc: warning: {warning}"]


def test_split_to_sequence_becomes_slices(tmp_path: Path) -> None:
    # torch.split in unoptimised dynamo exports: SplitToSequence + SequenceAt with constant positions
    nodes = [
        _const("sizes", [2, 6]),
        helper.make_node("SplitToSequence", ["x", "sizes"], ["seq"], name="split", axis=1),
        helper.make_node("Constant", [], ["p1"], value=numpy_helper.from_array(np.array(1, np.int64))),
        helper.make_node("SequenceAt", ["seq", "p1"], ["second"], name="at1"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("second", TensorProto.FLOAT, None)],
    )
    module = import_onnx(_save(tmp_path, graph))
    (op,) = [op for op in module.walk() if isinstance(op, nn.OnnxOp)]
    assert op.op_type.data == "Slice" and nn.op_label(op) == "at1"
    assert nn.tensor_shape(op.results[0].type) == (4, 6)


def test_weights_stored_externally_are_only_shapes(tmp_path: Path) -> None:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8, 4], data_location=TensorProto.EXTERNAL)
    entry = w.external_data.add()
    entry.key, entry.value = "location", "absent.bin"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[w],
    )
    module = import_model(_save(tmp_path, graph), {"batch": "4"})
    (lin,) = [op for op in module.walk() if isinstance(op, nn.LinearOp)]
    assert nn.tensor_shape(lin.result.type) == (4, 4)
    assert not (tmp_path / "absent.bin").exists()
