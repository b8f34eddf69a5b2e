"""The .pim model language: examples import to the expected nn IR, errors point at the source."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import TypeVar

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f16, f32, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.parser import Parser

from pimc.compiler.driver import make_context
from pimc.compiler.frontend.dsl.importer import import_dsl, import_dsl_text
from pimc.dialects import nn
from pimc.errors import ModelImportError

Op = TypeVar("Op", bound=Operation)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _funcs(module: ModuleOp) -> dict[str, func.FuncOp]:
    return {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}


def _counts(fn: func.FuncOp) -> Counter[str]:
    return Counter(op.name for op in fn.body.walk())


def _ops(fn: func.FuncOp, *kinds: type[Op]) -> list[Op]:
    return [op for op in fn.body.walk() if isinstance(op, kinds)]


def _element_type(value: SSAValue) -> Attribute:
    assert isinstance(value.type, TensorType)
    return value.type.element_type


def _shape(value) -> tuple[int, ...]:
    return nn.tensor_shape(value.type)


@pytest.fixture(scope="module")
def llama7b() -> dict[str, func.FuncOp]:
    return _funcs(import_dsl(EXAMPLES / "llama2-7b.pim"))


# -- Llama-2-7B ----------------------------------------------------------------


def test_llama2_7b_has_one_function_per_phase_in_declaration_order() -> None:
    module = import_dsl(EXAMPLES / "llama2-7b.pim", {"layers": "1"})
    assert [op.sym_name.data for op in module.ops if isinstance(op, func.FuncOp)] == ["prefill", "decode"]
    assert module.attributes["pimc.model"] == StringAttr("llama2-7b")


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_llama2_7b_op_counts(llama7b: dict[str, func.FuncOp], phase: str) -> None:
    c = _counts(llama7b[phase])
    assert c["nn.linear"] == 32 * 7 + 1  # q, k, v, o, gate, up, down per layer + lm_head
    assert c["nn.attention"] == 32
    assert c["nn.rms_norm"] == 2 * 32 + 1
    assert c["nn.rotary"] == 2 * 32
    assert c["nn.silu"] == 32
    assert c["nn.mul"] == 32  # silu(gate) * up
    assert c["nn.add"] == 2 * 32  # two residuals per layer
    assert c["nn.gather"] == 1
    assert c["nn.reshape"] == c["nn.transpose"] == 32 * 4  # split_heads x3 + merge_heads per layer
    assert c["nn.weight"] == 32 * 9 + 3
    assert c["nn.kv_append"] == (64 if phase == "decode" else 0)
    assert c["nn.onnx"] == 0


def test_llama2_7b_attention_shapes(llama7b: dict[str, func.FuncOp]) -> None:
    for phase, s, t in (("prefill", 512, 512), ("decode", 1, 512)):
        attention = _ops(llama7b[phase], nn.AttentionOp)
        assert {_shape(a.q) for a in attention} == {(1, 32, s, 128)}
        assert {_shape(a.k) for a in attention} == {_shape(a.v) for a in attention} == {(1, 32, t, 128)}
        assert all(a.causal is not None and a.mask is None for a in attention)
        assert attention[0].scale.value.data == pytest.approx(1 / math.sqrt(128))


def test_llama2_7b_signature_caches_and_outputs(llama7b: dict[str, func.FuncOp]) -> None:
    prefill, decode = llama7b["prefill"], llama7b["decode"]
    # prefill: cached = 0, so the caches are absent: ids, cos, sin only
    assert [_shape(a) for a in prefill.args] == [(1, 512), (1, 1, 512, 128), (1, 1, 512, 128)]
    assert _element_type(prefill.args[0]) == i64
    assert [_shape(a) for a in decode.args[:3]] == [(1, 1), (1, 1, 1, 128), (1, 1, 1, 128)]
    assert [_shape(a) for a in decode.args[3:]] == [(1, 32, 511, 128)] * 64
    assert [a.name_hint for a in decode.args[3:5]] == ["layers_0_past_k", "layers_0_past_v"]
    for fn, s in ((prefill, 512), (decode, 1)):
        outs = list(fn.function_type.outputs)
        assert [nn.tensor_shape(t) for t in outs] == [(1, 32, 512, 128)] * 64 + [(1, s, 32000)]
    # present k/v: the kv_append results in decode, the rotated k and the split v in prefill
    ret = prefill.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    assert isinstance(ret.operands[0].owner, nn.RotaryOp) and isinstance(ret.operands[1].owner, nn.TransposeOp)
    ret = decode.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    assert all(isinstance(v.owner, nn.KvAppendOp) for v in ret.operands[:64])
    assert isinstance(ret.operands[64].owner, nn.LinearOp)


def test_llama2_7b_every_op_has_phase_and_a_unique_name(llama7b: dict[str, func.FuncOp]) -> None:
    for phase, fn in llama7b.items():
        ops = list(fn.body.walk())
        assert all(op.attributes.get("phase") == StringAttr(phase) for op in ops)
        names = [op.attributes["name"] for op in ops if op.name.startswith("nn.")]
        assert len(names) == len(ops) - 1  # all but func.return
        assert len(set(names)) == len(names)
    labels = {nn.op_label(op) for op in llama7b["decode"].body.walk()}
    assert {"layers.3.x", "layers.3.q", "layers.3.q.q_proj", "layers.3.attn", "layers.3.present_k", "logits"} <= labels
    assert "layers.31.mlp.down_proj" not in labels and "layers.31.mlp" in labels  # root op takes the target's name


def test_llama2_7b_weights_lead_and_are_shared_by_the_phases(llama7b: dict[str, func.FuncOp]) -> None:
    per_phase = []
    for fn in llama7b.values():
        ops = list(fn.body.block.ops)
        n = sum(isinstance(op, nn.WeightOp) for op in ops)
        weights = [op for op in ops[:n] if isinstance(op, nn.WeightOp)]
        assert len(weights) == n  # weights at the top
        per_phase.append({(op.sym_name.data, op.result.type) for op in weights})
    assert per_phase[0] == per_phase[1]
    by_name = {name: nn.tensor_shape(t) for name, t in per_phase[0]}
    assert by_name["layers.0.q_proj"] == (4096, 4096)
    assert by_name["layers.31.gate_proj"] == (11008, 4096)  # HF's [out, in], read with w.T
    assert by_name["embed_tokens"] == (32000, 4096) and by_name["lm_head"] == (32000, 4096)
    assert all(lin.transpose_w is not None for lin in _ops(llama7b["decode"], nn.LinearOp))


# -- other examples ---------------------------------------------------------------


def test_llama2_70b_uses_grouped_query_attention() -> None:
    fns = _funcs(import_dsl(EXAMPLES / "llama2-70b.pim", {"layers": "2"}))
    decode = fns["decode"]
    (a, _) = _ops(decode, nn.AttentionOp)
    assert _shape(a.q) == (1, 64, 1, 128)
    assert _shape(a.k) == _shape(a.v) == (1, 8, 512, 128)
    weights = {w.sym_name.data: nn.tensor_shape(w.result.type) for w in _ops(decode, nn.WeightOp)}
    assert weights["layers.1.k_proj"] == (1024, 8192)
    assert weights["layers.1.gate_proj"] == (28672, 8192)
    assert [_shape(arg) for arg in decode.args[3:]] == [(1, 8, 511, 128)] * 4
    assert all(_counts(fn)["nn.linear"] == 2 * 7 + 1 for fn in fns.values())


def test_gpt2_small_ties_the_lm_head_and_uses_tanh_gelu() -> None:
    fns = _funcs(import_dsl(EXAMPLES / "gpt2-small.pim"))
    for phase, fn in fns.items():
        c = _counts(fn)
        assert c["nn.linear"] == 12 * 4 + 1
        assert c["nn.layer_norm"] == 2 * 12 + 1
        assert c["nn.gather"] == 2  # token and learned position embedding
        assert c["nn.kv_append"] == (24 if phase == "decode" else 0)
        linears = _ops(fn, nn.LinearOp)
        assert all(lin.bias is not None for lin in linears[:-1])
        lm_head = linears[-1]
        assert lm_head.transpose_w is not None and lm_head.bias is None
        assert isinstance(lm_head.w.owner, nn.WeightOp) and lm_head.w.owner.sym_name.data == "wte"
        assert _shape(lm_head.result)[-1] == 50257
        assert {g.approximate.data for g in _ops(fn, nn.GeluOp)} == {"tanh"}
        splits = [op for op in _ops(fn, nn.OnnxOp) if op.op_type.data == "Split"]
        assert len(splits) == 12 and len(splits[0].outputs) == 3


def test_bert_base_is_one_phase_without_causal_mask() -> None:
    module = import_dsl(EXAMPLES / "bert-base.pim", {"seq": "128"})
    fns = _funcs(module)
    assert list(fns) == ["prefill"]
    fn = fns["prefill"]
    c = _counts(fn)
    assert c["nn.linear"] == 12 * 6 and c["nn.layer_norm"] == 2 * 12 + 1 and c["nn.gather"] == 3
    attention = _ops(fn, nn.AttentionOp)
    assert len(attention) == 12
    assert all(a.causal is None and a.mask is not None for a in attention)
    assert _shape(attention[0].k) == (1, 12, 128, 64)
    assert all(lin.bias is not None for lin in _ops(fn, nn.LinearOp))
    assert {g.approximate.data for g in _ops(fn, nn.GeluOp)} == {"none"}
    assert [nn.tensor_shape(t) for t in fn.function_type.outputs] == [(1, 128, 768)]


TINY_LLAMA = {
    "layers": "2", "hidden": "64", "heads": "4", "kv_heads": "2", "ffn": "128", "vocab": "512", "seq": "8", "past": "7"
}  # fmt: skip
"""The config of tests/models' tiny HF Llama (export_hf.py): prefill 8 tokens, decode after 7."""


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_llama_example_matches_the_raised_hf_onnx_export(phase: str) -> None:
    from pimc.compiler.driver import import_model

    fixture = EXAMPLES.parent / "tests" / "models" / f"llama-{phase}-noopt.onnx"
    if not fixture.is_file():
        pytest.skip(f"{fixture} is not present")
    (onnx_fn,) = _funcs(import_model(fixture)).values()
    dsl_fn = _funcs(import_dsl(EXAMPLES / "llama2-7b.pim", TINY_LLAMA))[phase]

    def kinds(fn: func.FuncOp) -> Counter[str]:
        return Counter(op.name for op in fn.body.walk() if op.name.startswith("nn.") and op.name != "nn.constant")

    assert kinds(dsl_fn) == kinds(onnx_fn)
    shapes = {"onnx": [], "dsl": []}
    for key, fn in (("onnx", onnx_fn), ("dsl", dsl_fn)):
        for op in _ops(fn, nn.LinearOp, nn.AttentionOp, nn.KvAppendOp):
            operands = op.operands[:3]  # the export's attention also takes its causal mask as a tensor
            shapes[key].append((op.name, [_shape(v) for v in operands], _shape(op.results[0])))
    assert shapes["dsl"] == shapes["onnx"]
    # the same results: logits and the present key/value of every layer (the export lists logits first)
    assert sorted(nn.tensor_shape(t) for t in dsl_fn.function_type.outputs) == sorted(
        nn.tensor_shape(t) for t in onnx_fn.function_type.outputs
    )


@pytest.mark.parametrize("example", ["llama2-7b", "llama2-70b", "gpt2-small", "bert-base"])
def test_examples_verify_print_and_reparse(example: str) -> None:
    module = import_dsl(EXAMPLES / f"{example}.pim", {"layers": "2"})
    module.verify()
    text = str(module)
    reparsed = Parser(make_context(), text).parse_module()
    reparsed.verify()
    assert str(reparsed) == text


# -- dims ----------------------------------------------------------------------


def test_dim_overrides_change_shapes_and_dtype() -> None:
    dims = {"batch": "8", "past": "2047", "layers": "1", "dtype": "f16"}
    fns = _funcs(import_dsl(EXAMPLES / "llama2-7b.pim", dims))
    (a,) = _ops(fns["decode"], nn.AttentionOp)
    assert _shape(a.q) == (8, 32, 1, 128) and _shape(a.k) == (8, 32, 2048, 128)
    assert _element_type(a.q) == f16
    assert _element_type(fns["decode"].args[0]) == i64  # ids declared i64 keep it
    assert {w.result.type.element_type for w in _ops(fns["prefill"], nn.WeightOp)} == {f16}
    (a,) = _ops(fns["prefill"], nn.AttentionOp)
    assert _shape(a.q) == (8, 32, 512, 128)


def test_derived_parameters_follow_overrides() -> None:
    fns = _funcs(
        import_dsl(EXAMPLES / "llama2-7b.pim", {"layers": "1", "hidden": "2048", "heads": "16", "kv_heads": "16"})
    )
    (a,) = _ops(fns["prefill"], nn.AttentionOp)
    assert _shape(a.q) == (1, 16, 512, 128)  # head_dim = hidden / heads


def test_unknown_dim_lists_the_parameters() -> None:
    with pytest.raises(ModelImportError) as e:
        import_dsl(EXAMPLES / "llama2-7b.pim", {"hiden": "8"})
    message = str(e.value)
    assert "unknown dim 'hiden'" in message and "did you mean 'hidden'?" in message
    assert "batch, seq, past, speculate, hidden, heads, kv_heads, head_dim, ffn, layers, vocab, dtype" in message


def test_bad_dim_value_points_at_the_parameter() -> None:
    with pytest.raises(ModelImportError) as e:
        import_dsl(EXAMPLES / "llama2-7b.pim", {"batch": "eight"})
    first, src, caret = str(e.value).splitlines()
    assert first.endswith("llama2-7b.pim:12:7: --dim batch=eight: not a non-negative integer")
    assert src == "param batch = 1" and caret == "      ^"


# -- the language ----------------------------------------------------------------

HEADER = """\
model tiny
param batch = 2
param hidden = 16
param heads = 4
phase prefill { tokens = 6, cached = 0 }
phase decode { tokens = 1, cached = 5 }
input x[batch, tokens, hidden]
weight w[hidden, hidden]
"""


def _single(text: str, dims: dict[str, str] | None = None) -> func.FuncOp:
    return _funcs(import_dsl_text(text, "t.pim", dims))["prefill"]


def test_ops_map_to_nn_ops_with_their_attributes() -> None:
    fn = _single(
        """
        param n = 4
        input a[2, 3, n], b[2, n, 5], ids: i64[2, 3]
        weight table[10, n]
        m = matmul(a, b)                       # [2, 3, 5]
        p = softmax(m, axis=1)
        e = embedding(table, ids)              # [2, 3, 4]
        d = e - a
        q = d / a
        r = relu(q) * tanh(a) + sigmoid(exp(neg(a)))
        c = concat(a, r, axis=-1)              # [2, 3, 8]
        s = reshape(c, [2, -1])                # [2, 24]
        t = transpose(a, [2, 0, 1])            # [4, 2, 3]
        u = a.T                                # [2, 4, 3]
        y = split_heads(c, 2)                  # [2, 2, 3, 4]
        z = merge_heads(y)                     # [2, 3, 8]
        output p, s, t, u, z
        """
    )
    by_name = {nn.op_label(op): op for op in fn.body.walk()}
    assert isinstance(by_name["m"], nn.MatMulOp) and _shape(by_name["m"].result) == (2, 3, 5)
    assert isinstance(by_name["p"], nn.SoftmaxOp) and by_name["p"].axis.value.data == 1
    assert isinstance(by_name["e"], nn.GatherOp) and by_name["e"].axis.value.data == 0
    onnx = {nn.op_label(op): op for op in _ops(fn, nn.OnnxOp)}
    assert {k: op.op_type.data for k, op in onnx.items()} == {
        "d": "Sub", "q": "Div", "r.relu": "Relu", "r.tanh": "Tanh", "r.sigmoid": "Sigmoid",
        "r.exp": "Exp", "r.neg": "Neg",
    }  # fmt: skip
    assert all(len(op.onnx_attrs.data) == 0 for op in onnx.values())
    assert isinstance(by_name["r"], nn.AddOp) and isinstance(by_name["r.mul"], nn.MulOp)
    assert isinstance(by_name["c"], nn.ConcatOp) and _shape(by_name["c"].result) == (2, 3, 8)
    assert _shape(by_name["s"].results[0]) == (2, 24)
    t, u = by_name["t"], by_name["u"]
    assert isinstance(t, nn.TransposeOp) and isinstance(u, nn.TransposeOp)
    assert [p.value.data for p in t.perm.data] == [2, 0, 1]
    assert [p.value.data for p in u.perm.data] == [0, 2, 1]
    # split_heads = reshape then transpose [0, 2, 1, 3]; merge_heads = the reverse
    assert isinstance(by_name["y.reshape"], nn.ReshapeOp) and _shape(by_name["y.reshape"].result) == (2, 3, 2, 4)
    assert isinstance(by_name["y"], nn.TransposeOp) and _shape(by_name["y"].result) == (2, 2, 3, 4)
    assert isinstance(by_name["z.transpose"], nn.TransposeOp) and isinstance(by_name["z"], nn.ReshapeOp)
    assert _shape(by_name["z"].result) == (2, 3, 8)


def test_linear_layouts_norms_and_attention_options() -> None:
    fn = _single(
        """
        input x[1, 5, 8], mask[1, 1, 5, 5]
        weight w[8, 12], wt[12, 8], b[12], g[8]
        y = linear(x, w, b)
        yt = linear(x, wt.T)
        n = layer_norm(x, g, eps=1e-12)
        r = rms_norm(x, g)
        h = gelu(x, approximate="tanh") + silu(x)
        q = split_heads(x, 2)
        a = attention(q, q, q, mask, scale=0.25)
        output y, yt, n, r, h, a
        """
    )
    by_name = {nn.op_label(op): op for op in fn.body.walk()}
    y, yt, n, r, gelu, a = (by_name[k] for k in ("y", "yt", "n", "r", "h.gelu", "a"))
    assert isinstance(y, nn.LinearOp) and isinstance(yt, nn.LinearOp) and isinstance(n, nn.LayerNormOp)
    assert isinstance(r, nn.RmsNormOp) and isinstance(gelu, nn.GeluOp) and isinstance(a, nn.AttentionOp)
    assert y.bias is not None and y.transpose_w is None
    assert yt.transpose_w is not None and _shape(yt.result) == (1, 5, 12)
    assert n.bias is None and n.epsilon.value.data == pytest.approx(1e-12)
    assert r.epsilon.value.data == pytest.approx(1e-6)
    assert gelu.approximate.data == "tanh"
    assert a.mask is not None and a.causal is None and a.scale.value.data == 0.25


def test_no_phase_gives_a_single_prefill_function() -> None:
    module = import_dsl_text("input x[2, 3]\ny = relu(x)\noutput y\n", "examples/enc.pim")
    assert list(_funcs(module)) == ["prefill"]
    assert module.attributes["pimc.model"] == StringAttr("enc")  # the file stem without a model line


def test_repeat_unrolls_names_weights_and_carries_values() -> None:
    module = import_dsl_text(
        HEADER
        + """
        h = x
        repeat 3 as i {
          weight a[hidden, hidden]
          cache past[batch, heads, cached, hidden / heads]
          t = linear(h, a)
          h = h + t            # rebinds the outer h: the residual stream
          output t
        }
        output h
        """,
        "t.pim",
    )
    fns = _funcs(module)
    weights = [w.sym_name.data for w in _ops(fns["decode"], nn.WeightOp)]
    assert weights == ["w", "i.0.a", "i.1.a", "i.2.a"]  # `repeat 3 as i` prefixes with the loop variable
    assert len(fns["prefill"].args) == 1 and len(fns["decode"].args) == 4  # cached = 0: no cache arguments
    assert [a.name_hint for a in fns["decode"].args[1:]] == ["i_0_past", "i_1_past", "i_2_past"]
    adds = _ops(fns["prefill"], nn.AddOp)
    assert adds[1].lhs is adds[0].result and adds[2].lhs is adds[1].result
    ret = fns["prefill"].body.block.last_op
    assert ret is not None and ret.operands[-1] is adds[2].result and len(ret.operands) == 4


def test_integer_expressions() -> None:
    fn = _single("param a = (7 + 5) * 2 // 5 - -1\ninput x[a, 24 / 4, 2 * (3 - 1)]\noutput x\n")
    assert _shape(fn.args[0]) == (5, 6, 4)
    assert _element_type(fn.args[0]) == f32  # no dtype parameter: f32


def test_multiline_calls_and_comments() -> None:
    fn = _single("input x[2, 4]  # a comment\ny = concat(\n  x,   # first\n  x,\n  axis=0,\n)\noutput y\n")
    ret = fn.body.block.last_op
    assert ret is not None and _shape(ret.operands[0]) == (4, 4)


# -- errors ------------------------------------------------------------------------

ERRORS = [
    # (body appended to HEADER, message fragment, line, column)
    ("y = linear(x w)", "unexpected 'w'; expected ',', ')' or an operator", 9, 14),
    ("y = x $ w", "unexpected character '$'", 9, 7),
    ("y = linear(x,", "unexpected 'output'; expected an expression or ')'", 10, 1),
    ("y = linear(xx, w)", "undefined name 'xx' (did you mean 'x'?)", 9, 12),
    ("y = lineer(x, w)", "unknown op 'lineer' (did you mean 'linear'?)", 9, 5),
    ("y = linear(x)", "wrong number of arguments: linear needs 'w'", 9, 5),
    ("y = silu(x, w)", "wrong number of arguments: silu takes at most 1 positional argument, got 2", 9, 13),
    ("y = attention(x, x, x, causl=true)", "attention has no argument 'causl' (did you mean 'causal'?)", 9, 24),
    ("weight v[8, 4]\ny = linear(x, v)", "linear: input [2, 6, 16] and weight [8, 4] [in, out] do not match", 10, 5),
    ("weight b[3]\ny = x + b", "add ('+'): shapes [2, 6, 16] and [3] do not broadcast", 10, 7),
    ("y = attention(x, x, x)", "attention: q, k, v must be 4-D", 9, 5),
    ("param bad = hidden / 3", "inexact division: 16 / 3 is not an integer (use '//' to round down)", 9, 20),
    ("param bad = hidden // 0", "division by zero", 9, 20),
    ("input z[hidden / 2.5]", "a dim of 'z' must be an integer, got the number 6.4", 9, 9),
    ("weight w[hidden]", "redefinition of weight 'w' (first declared at line 8)", 9, 8),
    ("w = relu(x)", "redefinition of weight 'w' (declared at line 8)", 9, 1),
    ("param heads = 2", "redefinition of param 'heads' (first defined at line 4)", 9, 7),
    ("phase train { tokens = 1, cached = 0 }", "unknown phase 'train'; a phase is prefill or decode", 9, 7),
    ("cache c[batch, cached]\ny = relu(c)", "cache 'c' is absent in phase 'prefill'", 10, 10),
    ("input z: f17[2]", "'f17' is not a dtype", 9, 10),
    ("y = linear(x, w.X)", "unknown attribute '.X'", 9, 17),
    ("repeat 2 as i { param p = 1 }", "'param' is only allowed at the top level", 9, 17),
    (
        "weight v[hidden, tokens]",
        "weight 'v' is [16, 1] here but [16, 6] in phase 'prefill'; the phases share their weights (in phase decode)",
        9,
        8,
    ),
    ("y = x + 2", "'+' needs two tensors or two numbers", 9, 7),
]


@pytest.mark.parametrize(("body", "message", "line", "column"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_errors_name_the_place_and_show_a_caret(body: str, message: str, line: int, column: int) -> None:
    text = HEADER + body + "\noutput x\n"
    with pytest.raises(ModelImportError) as e:
        import_dsl_text(text, "t.pim")
    first, src, caret = str(e.value).split("\n")
    assert first.startswith(f"t.pim:{line}:{column}: ")
    assert message in first
    assert src == text.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"


def test_unexpected_end_of_file_points_past_the_last_token() -> None:
    with pytest.raises(ModelImportError) as e:
        import_dsl_text("input x[2]\ny = relu(x,\n", "t.pim")
    assert (
        str(e.value) == "t.pim:2:12: unexpected end of file; expected an expression or ')'\ny = relu(x,\n           ^"
    )


def test_phases_must_bind_the_same_variables() -> None:
    text = "phase prefill { tokens = 4 }\nphase decode { tokens = 1, cached = 3 }\n"
    with pytest.raises(ModelImportError, match=re.escape("t.pim:2:7: phase 'decode' binds {tokens, cached}")):
        import_dsl_text(text, "t.pim")


def test_a_model_needs_outputs() -> None:
    with pytest.raises(ModelImportError, match=re.escape("t.pim:1:1: the model has no outputs")):
        import_dsl_text("input x[2]\n", "t.pim")


def test_missing_file() -> None:
    with pytest.raises(ModelImportError, match="no such file"):
        import_dsl("/nonexistent/model.pim")
