"""Build examples/gpt2-tiny-decode.onnx: one decode step of a 2-layer GPT-2-style decoder.

The graph is what a GPT-2 decode step computes with a KV cache passed in as
inputs: token + position embedding, then per layer LayerNorm, fused QKV
projection, Split into heads, KV-cache append (Concat), scaled dot-product
attention (MatMul, Mul, Softmax, MatMul), output projection, residual, LayerNorm,
MLP with tanh-GELU, residual; final LayerNorm and a tied LM head (Gemm with
transB=1 against the token embedding). Weights are seeded random numbers.

    python examples/make_gpt2_tiny.py [OUT.onnx]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 64
HEADS = 4
HEAD_DIM = HIDDEN // HEADS
FFN = 4 * HIDDEN
LAYERS = 2
VOCAB = 512
MAX_POS = 32
PAST = 15
OPSET = 20  # Gelu is an ONNX op from opset 20


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def weight(name: str, *shape: int, scale: float = 0.02, value: float | None = None) -> str:
        data = np.full(shape, value, np.float32) if value is not None else (rng.standard_normal(shape) * scale)
        inits.append(numpy_helper.from_array(data.astype(np.float32), name))
        return name

    def ints(name: str, values: list[int]) -> str:
        inits.append(numpy_helper.from_array(np.array(values, np.int64), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: Any) -> list[str]:
        nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs

    def layer_norm(x: str, prefix: str, out: str, node_name: str) -> str:
        gamma = weight(f"{prefix}.weight", HIDDEN, value=1.0)
        beta = weight(f"{prefix}.bias", HIDDEN, value=0.0)
        return node("LayerNormalization", [x, gamma, beta], [out], node_name, axis=-1, epsilon=1e-5)[0]

    wte = weight("wte", VOCAB, HIDDEN)
    wpe = weight("wpe", MAX_POS, HIDDEN)
    (tok,) = node("Gather", [wte, "input_ids"], ["tok_emb"], "/wte/Gather")
    (pos,) = node("Gather", [wpe, "position_ids"], ["pos_emb"], "/wpe/Gather")
    (h,) = node("Add", [tok, pos], ["h_0"], "/emb/Add")
    ints("split_qkv", [HIDDEN, HIDDEN, HIDDEN])
    ints("shape_heads", [1, 1, HEADS, HEAD_DIM])
    ints("shape_hidden", [1, 1, HIDDEN])
    ints("shape_2d", [1, HIDDEN])
    ints("shape_logits", [1, 1, VOCAB])
    scale = weight("attn_scale", 1, value=1.0 / np.sqrt(HEAD_DIM))

    outputs: list[onnx.ValueInfoProto] = []
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 1]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, [1, 1]),
    ]
    for layer in range(LAYERS):
        p = f"/h.{layer}"
        past_k, past_v = f"past_key_{layer}", f"past_value_{layer}"
        for n in (past_k, past_v):
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, HEADS, PAST, HEAD_DIM]))
        x = layer_norm(h, f"h.{layer}.ln_1", f"{p}/ln_1", f"{p}/ln_1/LayerNormalization")
        (qkv,) = node(
            "MatMul",
            [x, weight(f"h.{layer}.attn.c_attn.weight", HIDDEN, 3 * HIDDEN)],
            [f"{p}/qkv_mm"],
            f"{p}/attn/c_attn/MatMul",
        )
        (qkv,) = node(
            "Add", [qkv, weight(f"h.{layer}.attn.c_attn.bias", 3 * HIDDEN)], [f"{p}/qkv"], f"{p}/attn/c_attn/Add"
        )
        q, k, v = node("Split", [qkv, "split_qkv"], [f"{p}/q", f"{p}/k", f"{p}/v"], f"{p}/attn/Split", axis=-1)
        heads = []
        for t in (q, k, v):
            (r,) = node("Reshape", [t, "shape_heads"], [f"{t}_4d"], f"{t}/Reshape")
            (r,) = node("Transpose", [r], [f"{t}_heads"], f"{t}/Transpose", perm=[0, 2, 1, 3])
            heads.append(r)
        qh, kh, vh = heads
        (present_k,) = node("Concat", [past_k, kh], [f"present_key_{layer}"], f"{p}/attn/Concat_k", axis=2)
        (present_v,) = node("Concat", [past_v, vh], [f"present_value_{layer}"], f"{p}/attn/Concat_v", axis=2)
        (kt,) = node("Transpose", [present_k], [f"{p}/kT"], f"{p}/attn/Transpose_k", perm=[0, 1, 3, 2])
        (s,) = node("MatMul", [qh, kt], [f"{p}/scores_raw"], f"{p}/attn/MatMul_qk")
        (s,) = node("Mul", [s, scale], [f"{p}/scores"], f"{p}/attn/Mul_scale")
        (pr,) = node("Softmax", [s], [f"{p}/probs"], f"{p}/attn/Softmax", axis=-1)
        (c,) = node("MatMul", [pr, present_v], [f"{p}/ctx_heads"], f"{p}/attn/MatMul_pv")
        (c,) = node("Transpose", [c], [f"{p}/ctx_t"], f"{p}/attn/Transpose_ctx", perm=[0, 2, 1, 3])
        (c,) = node("Reshape", [c, "shape_hidden"], [f"{p}/ctx"], f"{p}/attn/Reshape_ctx")
        (o,) = node(
            "MatMul",
            [c, weight(f"h.{layer}.attn.c_proj.weight", HIDDEN, HIDDEN)],
            [f"{p}/proj_mm"],
            f"{p}/attn/c_proj/MatMul",
        )
        (o,) = node("Add", [o, weight(f"h.{layer}.attn.c_proj.bias", HIDDEN)], [f"{p}/proj"], f"{p}/attn/c_proj/Add")
        (h,) = node("Add", [h, o], [f"{p}/res_1"], f"{p}/Add_res_1")
        x = layer_norm(h, f"h.{layer}.ln_2", f"{p}/ln_2", f"{p}/ln_2/LayerNormalization")
        (f,) = node(
            "MatMul", [x, weight(f"h.{layer}.mlp.c_fc.weight", HIDDEN, FFN)], [f"{p}/fc_mm"], f"{p}/mlp/c_fc/MatMul"
        )
        (f,) = node("Add", [f, weight(f"h.{layer}.mlp.c_fc.bias", FFN)], [f"{p}/fc"], f"{p}/mlp/c_fc/Add")
        (f,) = node("Gelu", [f], [f"{p}/gelu"], f"{p}/mlp/Gelu", approximate="tanh")
        (f,) = node(
            "MatMul",
            [f, weight(f"h.{layer}.mlp.c_proj.weight", FFN, HIDDEN)],
            [f"{p}/mlp_proj_mm"],
            f"{p}/mlp/c_proj/MatMul",
        )
        (f,) = node("Add", [f, weight(f"h.{layer}.mlp.c_proj.bias", HIDDEN)], [f"{p}/mlp_proj"], f"{p}/mlp/c_proj/Add")
        (h,) = node("Add", [h, f], [f"{p}/res_2"], f"{p}/Add_res_2")
        for n in (present_k, present_v):
            outputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, HEADS, PAST + 1, HEAD_DIM]))

    x = layer_norm(h, "ln_f", "ln_f", "/ln_f/LayerNormalization")
    (x,) = node("Reshape", [x, "shape_2d"], ["ln_f_2d"], "/lm_head/Reshape_in")
    (lg,) = node("Gemm", [x, wte], ["logits_2d"], "/lm_head/Gemm", transB=1)
    node("Reshape", [lg, "shape_logits"], ["logits"], "/lm_head/Reshape_out")
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, VOCAB]))

    graph = helper.make_graph(nodes, "gpt2-tiny-decode", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pimc-examples")
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("gpt2-tiny-decode.onnx")
    onnx.save(build(), str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
