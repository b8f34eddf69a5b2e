"""The shard pass (tensor parallelism): per-chip FLOPs, bytes, weights and collectives against hand-computed
figures, and the splits of the model forms the frontends write (GQA, fused QKV with a Split, biases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp

from pimc.compiler.driver import compile_model, import_model, make_context
from pimc.dialects import nn
from pimc.errors import CompileError, PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.passes.shard import ShardPass
from pimc.targets.annotations import COST_ATTR
from pimc.targets.models.cost import tensor_bytes

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "filecheck" / "inputs" / "tiny-llama.pim"


def _costed(path: Path, tp: int, system: str = "dgx-a100", dims: dict[str, str] | None = None) -> ModuleOp:
    module = import_model(path, dims or {})
    ctx = make_context()
    ShardPass(tp=tp, system=system).apply(ctx, module)
    AnnotateCostPass(system=system).apply(ctx, module)
    module.verify()
    return module


def _flops(module: ModuleOp, name: str) -> int:
    total = 0
    for op in module.walk():
        if op.name == name:
            cost = op.attributes[COST_ATTR]
            assert isinstance(cost, DictionaryAttr)
            flops = cost.data["flops"]
            assert isinstance(flops, IntegerAttr)
            total += flops.value.data
    return total


def _weight_bytes(module: ModuleOp) -> int:
    return sum(tensor_bytes(op.results[0].type, 2) for op in module.walk() if isinstance(op, nn.WeightOp))


def test_tiny_llama_per_chip_flops_and_weights() -> None:
    # decode, 1 token: per chip q 2*64*32, k and v 2*64*16, o 2*32*64, gate/up/down 2*64*64, LM head 2*64*128
    one, two = _costed(TINY, 1, "a100"), _costed(TINY, 2)
    per_chip = 4096 + 2048 + 2048 + 4096 + 3 * 8192 + 16384
    assert _flops(two, "nn.linear") == per_chip == 53248
    assert _flops(one, "nn.linear") == 2 * per_chip
    # fp16 weights: every matrix halved; the three norms (64 elements each) stay whole on every chip
    assert _weight_bytes(one) == 139648
    assert _weight_bytes(two) == (139648 - 3 * 128) // 2 + 3 * 128 == 70016
    # attention: 2 of 4 query heads over 4 positions of 16: 2 * 2 * 4 * (16 + 16) + 7 * 2 * 4 per chip
    assert _flops(two, "nn.attention") * 2 == _flops(one, "nn.attention")


def test_tiny_llama_collectives() -> None:
    module = _costed(TINY, 2)
    reduces = [op for op in module.walk() if op.name == "shard.all_reduce"]
    gathers = [op for op in module.walk() if op.name == "dist.all_gather"]
    assert [op.attributes["name"] for op in reduces] == [
        nn.StringAttr("h.all_reduce"),
        nn.StringAttr("layers.0.r.all_reduce"),
        nn.StringAttr("layers.0.h.all_reduce"),
    ]
    assert [nn.tensor_shape(op.results[0].type) for op in gathers] == [(1, 1, 256)]
    # only the interconnect has a cost for a collective, and it is NVLink's: 3.6 us + 2 x 0.47 us +
    # 2 x 1/2 x 128 B at 300 GB/s
    cost = reduces[0].attributes[COST_ATTR]
    assert isinstance(cost, DictionaryAttr)
    latency = cost.data["latency_ns"]
    assert isinstance(latency, DictionaryAttr) and set(latency.data) == {"nvlink"}
    ns = latency.data["nvlink"]
    assert isinstance(ns, nn.FloatAttr)
    assert ns.value.data == pytest.approx(3600 + 2 * 470 + 128 / 300)


def test_gpt2_fused_qkv_and_biases() -> None:
    # GPT-2 small's layer: c_attn [768, 2304] column-parallel with its bias, a Split into q, k, v of 384 per
    # chip, attn_proj and mlp_proj row-parallel with their biases added once after the all-reduce
    module = _costed(REPO / "examples" / "gpt2-small.pim", 2, dims={"layers": "1", "dtype": "f16"})
    shapes = {
        op.sym_name.data: nn.tensor_shape(op.results[0].type)
        for op in module.walk()
        if isinstance(op, nn.WeightOp) and op.attributes.get("phase") == nn.StringAttr("decode")
    }
    assert shapes["layers.0.c_attn"] == (768, 1152)
    assert shapes["layers.0.c_attn_b"] == (1152,)
    assert shapes["layers.0.attn_proj"] == (384, 768)
    assert shapes["layers.0.attn_proj_b"] == (768,)
    assert shapes["wte"] == (50257, 768)  # 50257 rows do not divide by 2: whole on every chip
    assert shapes["wpe"] == (512, 768)  # vocab-parallel positions
    decode = [op for op in module.walk() if op.attributes.get("phase") == nn.StringAttr("decode")]
    splits = [op for op in decode if isinstance(op, nn.OnnxOp) and op.op_type.data == "Split"]
    assert [nn.tensor_shape(r.type) for r in splits[0].results] == [(1, 1, 384)] * 3
    biases = [op for op in decode if op.attributes.get("name") == nn.StringAttr("layers.0.o.bias")]
    assert len(biases) == 1 and isinstance(biases[0], nn.AddOp)
    assert [getattr(v.owner, "name", None) for v in biases[0].operands] == ["shard.all_reduce", "nn.weight"]
    assert sum(op.name == "shard.all_reduce" for op in decode) == 3  # wpe's rows, attn_proj, mlp_proj
    assert not any(op.name == "dist.all_gather" for op in decode)  # the LM head (tied to wte) is whole


def test_errors() -> None:
    with pytest.raises(CompileError, match="--tp 3: system 'dgx-a100' has 8 chips"):
        _costed(TINY, 3)
    with pytest.raises(CompileError, match="--tp 2: system 'a100' has one chip"):
        _costed(TINY, 2, "a100")
    module = _costed(TINY, 2)
    with pytest.raises(CompileError, match="sharded already"):
        ShardPass(tp=2).apply(make_context(), module)


def test_gpt3_175b_fits_one_dgx_a100_only_split() -> None:
    # 175B fp16 parameters: 349 GB, more than an 80 GB A100 holds; 8-way tensor parallelism holds 1/8 per GPU
    with pytest.raises(PimcError, match=r"cannot hold the model .* weights 349 GB"):
        compile_model(REPO / "examples" / "gpt3-175b.pim", system="dgx-a100", tp=1, dims={"dtype": "f16"}, emit=[])
    result = compile_model(
        REPO / "examples" / "gpt3-175b.pim",
        system="dgx-a100",
        tp=8,
        dims={"dtype": "f16", "layers": "2"},
        emit=[],
        baselines=False,
    )
    par = result.report["parallel"]
    assert (par["tp"], par["chips"], par["replicas"]) == (8, 8, 1)
    # per phase: the vocab-parallel position embedding's all-reduce, then two per layer (attention and MLP)
    assert {p: c["kinds"] for p, c in par["collectives"].items()} == {
        "prefill": {"all_reduce": 5},
        "decode": {"all_reduce": 5},
    }
    # each decode all-reduce sums one token's 12288 fp16 activations: 3.6 us + 2 x 0.47 us + 2 x 7/8 x 24576 B
    # at 300 GB/s
    ar = [e for e in result.report["ops"] if e["op"] == "shard.all_reduce" and e["phase"] == "decode"]
    assert ar[0]["device"] == "nvlink"
    assert ar[0]["latency_ns"] == pytest.approx(3600 + 940 + 2 * 7 / 8 * 24576 / 300)


def test_timeline_shows_every_chip_and_its_collectives() -> None:
    import json

    from pimc.targets.emit.timeline import timeline_json

    result = compile_model(TINY, system="dgx-a100", tp=2, emit=[], baselines=False)
    trace = json.loads(timeline_json(result.module))["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in trace if e["name"] == "process_name"}
    assert names == {1: "chip 0: tiny-llama on dgx-a100", 2: "chip 1: tiny-llama on dgx-a100"}
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace if e["name"] == "thread_name"}
    for pid in (1, 2):
        collectives = [
            e["name"] for e in trace if e["ph"] == "X" and e["pid"] == pid and tracks[(pid, e["tid"])] == "nvlink"
        ]
        assert collectives == ["h.all_reduce", "layers.0.r.all_reduce", "layers.0.h.all_reduce", "logits.all_gather"]


@pytest.mark.parametrize(
    "model",
    [
        "llama-decode-noopt",
        "gpt2-decode-noopt",  # fused QKV cut by three Slices
        "gpt2-prefill-opt",
        "opt-decode-opt",
        "gptj-decode-opt",  # partial rotary: Slices of the head dim
        "gptneox-decode-opt",
        "phi-decode-opt",  # parallel attention and MLP
        "bert-prefill-opt",
    ],
)
def test_real_exports_split_without_gathers_inside_layers(model: str) -> None:
    # the exporters' HF fixtures (two layers, tests/models/README.md): one all-reduce for the vocab-parallel
    # embedding, two per layer, and the logits' (or BERT's output's) single all-gather: no layer falls back to a
    # whole operand
    module = import_model(REPO / "tests" / "models" / f"{model}.onnx", {})
    ShardPass(tp=2, system="dgx-a100").apply(make_context(), module)
    module.verify()
    names = [op.name for op in module.walk()]
    assert (names.count("shard.all_reduce"), names.count("dist.all_gather")) == (5, 1)


def test_without_tp_every_degree_is_tried_and_the_fastest_kept() -> None:
    result = compile_model(TINY, system="dgx-a100", emit=[], baselines=False)
    search = result.report["parallel"]["search"]
    assert [(row["tp"], row["replicas"]) for row in search] == [(1, 8), (2, 4), (4, 2), (8, 1)]
    fastest = min(search, key=lambda row: (row["latency_ns"], row["tp"]))
    assert [row["tp"] for row in search if row["chosen"]] == [fastest["tp"]] == [result.report["parallel"]["tp"]]
    assert result.report["totals"]["latency_ns"] == fastest["latency_ns"]
    for row in search:  # one decode token per replica per step
        assert row["tokens_per_s"] == pytest.approx(row["replicas"] * 1e9 / row["tpot_ns"])


def test_multi_query_attention_appends_its_one_kv_head_whole() -> None:
    # GPTBigCode: 4 query heads share one K/V head; each chip keeps 2 query heads and the whole K/V cache, and
    # gathers the step's key and value (one all-gather each per layer) instead of splitting the cache by dim
    module = import_model(REPO / "tests" / "models" / "gptbigcode-decode-noopt.onnx", {})
    ShardPass(tp=2, system="dgx-a100").apply(make_context(), module)
    module.verify()
    gathers = [op for op in module.walk() if op.name == "dist.all_gather"]
    kv = [op for op in gathers if any(isinstance(u.operation, nn.KvAppendOp) for u in op.results[0].uses)]
    assert len(kv) == 4 and len(gathers) == 5  # 2 layers x (key, value), and the logits
    for op in module.walk():
        if isinstance(op, nn.AttentionOp):
            _, hq, hkv, *_ = op.dims()
            assert (hq, hkv) == (2, 1)
