"""The reference interpreter agrees with onnxruntime, before and after raise-nn.

For every ONNX fixture with its weights inside the file, the model is imported
(and, in the `raised` variant, rewritten by raise-nn), evaluated with
`pimc.targets.interp.reference` and compared output by output with onnxruntime on the
same inputs and weights. Inputs are seeded: floats standard normal, indices
below the size of the table they index, masks 1 but for some trailing padding;
symbolic dims are bound to 2, 3, 5, ... The float weights are replaced by seeded
random ones (see `_random_weights`) so that every op shows in the outputs.
A difference after raising but not before is a bug in raise-nn; one in both
variants is a bug in the importer (or in the interpreter). Small hand-built
graphs cover ops and attribute forms the fixtures do not use.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Block, Region

from pimc.compiler.driver import make_context
from pimc.compiler.frontend.onnx.importer import import_onnx
from pimc.compiler.frontend.onnx.shapes import resolve_graph
from pimc.compiler.run import seeded_inputs
from pimc.dialects import nn
from pimc.passes.raise_nn import RaiseNnPass
from pimc.targets.interp.reference import ReferenceError, run_function, weights_from_onnx

REPO = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4  # max |reference - onnxruntime| over every output element (float32)


def _has_external_data(path: Path) -> bool:
    model = onnx.load(str(path), load_external_data=False)
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    return any(t.data_location == TensorProto.EXTERNAL for t in tensors)


def _fixtures() -> list:
    paths = sorted((REPO / "tests" / "models").glob("*.onnx")) + [REPO / "examples" / "gpt2-tiny-decode.onnx"]
    params = []
    for p in paths:
        marks = [pytest.mark.skip(reason="weights stored outside the file")] if _has_external_data(p) else []
        params.append(pytest.param(p, id=p.stem, marks=marks))
    return params


FIXTURES = _fixtures()


# -- inputs and onnxruntime ---------------------------------------------------------------


def _output_names(path: Path) -> list[str]:
    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


def _opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _symbolic_dims(model: onnx.ModelProto) -> dict[str, int]:
    """Small distinct values (2, 3, 5, ...) for the graph inputs' symbolic dims, in order of appearance."""
    primes = iter((2, 3, 5, 7, 11, 13))
    dims: dict[str, int] = {}
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param not in dims:
                dims[d.dim_param] = next(primes)
    return dims


def _random_weights(
    path: Path, dims: dict[str, int], module: ModuleOp, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Seeded random values for the float weights the IR leaves as `nn.weight` data.

    The fixtures' weights are a HuggingFace initialisation (norm scales 1, biases 0,
    projections of std 0.02), under which a wrong bias, norm or attention scale
    changes the outputs by less than the tolerance; random weights of O(1) effect
    make every op count. Initializers that shape folding read (their values are
    baked into the IR) and the one-element ones imported as `nn.constant` keep
    their values.
    """
    resolved = resolve_graph(onnx.load(str(path), load_external_data=False), path, dims or None)
    folded_from = {
        resolved.resolve(i)
        for node in resolved.graph.node
        if node.output and all(o in resolved.consts for o in node.output if o)
        for i in node.input
        if i
    }
    weights = {op.sym_name.data for op in module.walk() if isinstance(op, nn.WeightOp)}
    random: dict[str, np.ndarray] = {}
    for init in resolved.graph.initializer:
        dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
        if init.name in weights and init.name not in folded_from and dtype.kind == "f":
            std = 0.2 if len(init.dims) >= 2 else 0.5
            random[init.name] = (rng.standard_normal(tuple(init.dims)) * std).astype(dtype)
    return random


@functools.cache
def _case(path: Path) -> tuple[ModuleOp, dict[str, np.ndarray], dict[str, np.ndarray], list[np.ndarray]]:
    """(the imported module, seeded inputs by name, weights, onnxruntime's outputs) for a fixture."""
    model = onnx.load(str(path))
    dims = _symbolic_dims(model)
    initializers = {i.name for i in model.graph.initializer}
    shapes = []
    for vi in model.graph.input:
        if vi.name not in initializers:
            dims_ = vi.type.tensor_type.shape.dim
            shapes.append(tuple(d.dim_value if d.HasField("dim_value") else dims[d.dim_param] for d in dims_))
    rng = np.random.default_rng(0)
    feeds = seeded_inputs(model, shapes, rng)  # draws from rng first; the random weights go on from there
    module = import_onnx(path, dims or None)
    random = _random_weights(path, dims, module, rng)
    assert random, f"{path.name}: no weight to randomise"
    for init in model.graph.initializer:
        if init.name in random:
            init.CopyFrom(numpy_helper.from_array(random[init.name], init.name))
    weights = {**weights_from_onnx(path), **random}
    options = ort.SessionOptions()
    options.log_severity_level = 3  # CastLike constant-folding notices are noise
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return module, feeds, weights, [np.asarray(e) for e in session.run(None, feeds)]


def _main(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == "main")


def _assert_close(got: list[np.ndarray], expected: list[np.ndarray], names: list[str]) -> None:
    assert len(got) == len(expected)
    for name, g, e in zip(names, got, expected, strict=True):
        assert g.shape == e.shape, f"output '{name}': shape {g.shape}, onnxruntime {e.shape}"
        assert g.dtype == e.dtype, f"output '{name}': dtype {g.dtype}, onnxruntime {e.dtype}"
        if g.size == 0:
            continue
        error = float(np.max(np.abs(g.astype(np.float64) - e.astype(np.float64))))
        where = np.unravel_index(np.argmax(np.abs(g.astype(np.float64) - e)), g.shape)
        assert error < TOLERANCE, f"output '{name}': max |reference - onnxruntime| = {error:.3g} at {where}"


# -- the fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize("raised", [False, True], ids=["import", "raised"])
@pytest.mark.parametrize("path", FIXTURES)
def test_reference_matches_onnxruntime(path: Path, raised: bool) -> None:
    imported, feeds, weights, expected = _case(path)
    module = imported.clone()
    if raised:
        RaiseNnPass().apply(make_context(), module)
        module.verify()
    got = run_function(_main(module), weights, list(feeds.values()), opset=_opset(path))
    _assert_close(got, expected, _output_names(path))


# -- hand-built graphs: ops and attribute forms the fixtures lack ------------------------


def _run_both(tmp_path: Path, graph: onnx.GraphProto, feeds: dict[str, np.ndarray], opset: int) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    outputs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    expected = [np.asarray(e) for e in outputs]
    module = import_onnx(path)
    got = run_function(_main(module), weights_from_onnx(path), list(feeds.values()))
    _assert_close(got, expected, [o.name for o in graph.output])


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def test_dedicated_ops_with_their_attributes(tmp_path: Path) -> None:
    """Gemm (transA, alpha, beta), LayerNormalization over two axes, Softmax on axis 1,
    Gather along axis 1 with negative indices, Concat, Transpose, Unsqueeze, a large Constant."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(_f32(rng, 16, 8), "a_w"),
        numpy_helper.from_array(_f32(rng, 8), "c"),
        numpy_helper.from_array(_f32(rng, 2, 2), "ln_s"),
        numpy_helper.from_array(_f32(rng, 2), "ln_b"),
        numpy_helper.from_array(np.array([[0, -1], [2, -3]], np.int64), "idx"),
    ]
    big = helper.make_tensor("big", TensorProto.FLOAT, [4, 8, 40], _f32(rng, 4 * 8 * 40).tolist())
    nodes = [
        helper.make_node("Gemm", ["x", "a_w", "c"], ["g"], transA=1, alpha=0.5, beta=2.0),  # [4, 8]
        helper.make_node("Reshape", ["g", "shape3"], ["g3"]),  # [2, 4, 4]
        helper.make_node("Constant", [], ["big_c"], value=big),
        helper.make_node("Gather", ["big_c", "idx"], ["gathered"], axis=1),  # [4, 2, 2, 40]
        helper.make_node("Softmax", ["gathered"], ["sm"], axis=1),
        helper.make_node("Transpose", ["sm"], ["t"], perm=[3, 0, 1, 2]),  # [40, 4, 2, 2]
        helper.make_node("LayerNormalization", ["t", "ln_s", "ln_b"], ["ln"], axis=-2, epsilon=1e-3),
        helper.make_node("Concat", ["g3", "g3"], ["cat"], axis=-1),
        helper.make_node("Unsqueeze", ["cat", "ax0"], ["u"]),
    ]
    inits += [
        numpy_helper.from_array(np.array([2, 4, 4], np.int64), "shape3"),
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
    ]
    graph = helper.make_graph(
        nodes,
        "dedicated",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16, 4])],
        [
            helper.make_tensor_value_info("ln", TensorProto.FLOAT, [40, 4, 2, 2]),
            helper.make_tensor_value_info("u", TensorProto.FLOAT, [1, 2, 4, 8]),
        ],
        inits,
    )
    _run_both(tmp_path, graph, {"x": _f32(rng, 16, 4)}, opset=20)


def test_generic_ops_in_opset_12_forms(tmp_path: Path) -> None:
    """Attributes that later opsets turned into inputs (ReduceMean/ReduceMax axes, Split
    split) run at the version they fit; float, tensor and `to` attributes convert back."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[-2], keepdims=1),  # attribute until opset 18
        helper.make_node("Split", ["x"], ["s0", "s1"], axis=1, split=[1, 3]),  # attribute until opset 12
        helper.make_node("Sub", ["s1", "mean"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Cast", ["e"], ["e64"], to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["e64"], ["e32"], to=TensorProto.FLOAT),
        helper.make_node("LeakyRelu", ["e32"], ["lr"], alpha=0.25),
        helper.make_node("Shape", ["lr"], ["shp"]),
        helper.make_node(
            "ConstantOfShape", ["shp"], ["fill"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
        ),
        helper.make_node("Add", ["lr", "fill"], ["y"]),
        helper.make_node("ReduceMax", ["s0"], ["m"], axes=[0, 1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "generic12",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 200])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 200]),
            helper.make_tensor_value_info("m", TensorProto.FLOAT, [200]),
        ],
    )
    _run_both(tmp_path, graph, {"x": _f32(rng, 2, 4, 200)}, opset=12)


# -- errors --------------------------------------------------------------------------------------


def _function(build) -> func.FuncOp:
    """@main(x: tensor<2x3xf32>) returning the result of the last of the ops `build(x, type)` makes."""
    t = TensorType(f32, [2, 3])
    block = Block(arg_types=[t])
    ops = build(block.args[0], t)
    ops[-1].attributes["name"] = StringAttr("node_0")
    block.add_ops([*ops, func.ReturnOp(ops[-1].results[0])])
    return func.FuncOp("main", ([t], [t]), Region(block))


def test_an_op_without_reference_semantics_is_named() -> None:
    def custom(x, t):
        op = nn.OnnxOp("FusedThing", [x], [t])
        op.properties["domain"] = StringAttr("com.example")
        return [op]

    with pytest.raises(ReferenceError, match=r"op 'node_0'.*FusedThing.*com\.example"):
        run_function(_function(custom), {}, [np.zeros((2, 3), np.float32)])


def test_a_missing_weight_and_a_wrong_input_are_reported() -> None:
    def add_weight(x, t):
        w = nn.WeightOp("w", t)
        return [w, nn.AddOp(x, w.result, t)]

    fn = _function(add_weight)
    with pytest.raises(ReferenceError, match="no data for weight 'w'"):
        run_function(fn, {}, [np.zeros((2, 3), np.float32)])
    with pytest.raises(ReferenceError, match=r"input 0 of @main has shape \(3, 2\)"):
        run_function(fn, {"w": np.zeros((2, 3), np.float32)}, [np.zeros((3, 2), np.float32)])
    with pytest.raises(ReferenceError, match=r"input 0 of @main has dtype int64"):
        run_function(fn, {"w": np.zeros((2, 3), np.float32)}, [np.zeros((2, 3), np.int64)])
    [y] = run_function(fn, {"w": np.ones((2, 3), np.float32)}, [np.full((2, 3), 2, np.float32)])
    assert y.dtype == np.float32 and np.array_equal(y, np.full((2, 3), 3, np.float32))
