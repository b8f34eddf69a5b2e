"""Export more tiny HuggingFace architectures to ONNX fixtures.

A sibling of ``export_hf.py`` (whose helpers, export settings and checks it
reuses; the fixtures of that script are not touched).  The models are built
from configs only (``torch.manual_seed(0)``, no hub download, no network) and
exported with ``torch.onnx.export(..., dynamo=True)``.  Three groups:

* parallel residual (attention and MLP read the same normalised input, or two
  norms of the same input, and both join the residual stream in the layer's
  final ``attn + mlp + residual``): GPT-J, GPT-NeoX (``use_parallel_residual``)
  and Phi, all with partial rotary embeddings;
* multi-query attention (one K/V head shared by all query heads): Falcon
  (``multi_query=True, parallel_attn=True, new_decoder_architecture=False``,
  so it is also parallel-residual) and GPTBigCode (``multi_query=True``);
* "generate-style" inputs (the tiny Llama of ``export_hf.py``): the graph
  takes ``input_ids``, ``attention_mask`` (int64, all ones, [batch, past+seq])
  and ``position_ids`` (int64, [batch, seq]) as ``model.generate`` feeds a
  model, so the rotary cos/sin and the causal mask are computed once at the
  top of the graph from graph inputs and read by every layer.

Every causal LM is exported for ``prefill`` (``input_ids`` [1, 8]) and
``decode`` (``input_ids`` [1, 1] plus ``past_key_<l>`` / ``past_value_<l>``
[1, kv_heads, 7, head_dim]); the MQA models have ``kv_heads`` = 1.  Parallel
and MQA models are written with ``optimize=False`` (``-noopt``) and
``optimize=True`` (``-opt``), and so is the generate-style Llama
(``llama_gen-<phase>-{noopt,opt}.onnx``).

Usage (from the repository root)::

    python tests/models/export_hf_extra.py                  # all fixtures
    python tests/models/export_hf_extra.py --only gptj falcon
    python tests/models/export_hf_extra.py --out-dir /tmp/x --no-check

Each export is checked with ``onnx.checker`` and run in onnxruntime on random
inputs against torch.  The script also prints, per graph, the values computed
outside the decoder layers that are read inside two or more layers (rotary
tables, mask) -- see ``shared_values``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # export_hf is a sibling script, not a package

import export_hf
from export_hf import PAST_LEN, PREFILL_LEN, SEED, VOCAB, WRAPPED

HERE = Path(__file__).resolve().parent

PARALLEL_MODELS = ("gptj", "gptneox", "phi")
MQA_MODELS = ("falcon", "gptbigcode")
GEN_MODELS = ("llama",)
ALL_MODELS = PARALLEL_MODELS + MQA_MODELS + GEN_MODELS
# Token ids that exist in the tiny vocabulary (the defaults of some configs,
# e.g. 50256, do not; they are not used by the graphs, this only avoids warnings).
SPECIAL_TOKENS = dict(bos_token_id=0, eos_token_id=0)


# --------------------------------------------------------------------------- models


def tiny_config(name: str):
    """The config of one tiny fixture model (no weights, no download)."""
    import transformers as tf

    if name == "gptj":
        # One LayerNorm feeds both attention and MLP; "rotate_every_two"
        # (interleaved) rotary on the first rotary_dim=8 of head_dim=16.
        return tf.GPTJConfig(
            n_layer=2,
            n_embd=64,
            n_head=4,
            n_inner=128,
            rotary_dim=8,
            vocab_size=VOCAB,
            n_positions=64,
            **SPECIAL_TOKENS,
        )
    if name == "gptneox":
        # attn(input_layernorm(x)) + mlp(post_attention_layernorm(x)) + x;
        # rotate_half rotary on the first 25% (4 of 16) of each head.
        return tf.GPTNeoXConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
            use_parallel_residual=True,
            rotary_pct=0.25,
            **SPECIAL_TOKENS,
        )
    if name == "phi":
        # One LayerNorm feeds both; rotate_half rotary on 50% (8 of 16).
        return tf.PhiConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
            partial_rotary_factor=0.5,
            **SPECIAL_TOKENS,
        )
    if name == "falcon":
        # Falcon-7B style: MQA (1 KV head), parallel attention/MLP off one
        # LayerNorm, full-width rotate_half rotary, no biases.
        return tf.FalconConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            ffn_hidden_size=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
            multi_query=True,
            parallel_attn=True,
            new_decoder_architecture=False,
            alibi=False,
            bias=False,
            **SPECIAL_TOKENS,
        )
    if name == "gptbigcode":
        # SantaCoder/StarCoder style: MQA (1 KV head), sequential residual,
        # learned absolute positions, fused c_attn.
        return tf.GPTBigCodeConfig(
            n_layer=2,
            n_embd=64,
            n_head=4,
            n_inner=128,
            vocab_size=VOCAB,
            n_positions=64,
            multi_query=True,
            **SPECIAL_TOKENS,
        )
    if name == "llama":
        return export_hf.tiny_config("llama")
    raise ValueError(f"unknown model {name!r}; expected one of {ALL_MODELS}")


def model_class(name: str):
    import transformers as tf

    return {
        "gptj": tf.GPTJForCausalLM,
        "gptneox": tf.GPTNeoXForCausalLM,
        "phi": tf.PhiForCausalLM,
        "falcon": tf.FalconForCausalLM,
        "gptbigcode": tf.GPTBigCodeForCausalLM,
        "llama": tf.LlamaForCausalLM,
    }[name]


def build_model(name: str, config=None) -> torch.nn.Module:
    """A randomly initialised (seed 0) HF model in eval mode."""
    config = config if config is not None else tiny_config(name)
    torch.manual_seed(SEED)
    return model_class(name)(config).eval()


def kv_geometry(config) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of the tensors the model stores in its cache.

    ``export_hf.kv_geometry`` reads ``num_key_value_heads``; Falcon has none
    (its ``num_kv_heads`` is only used by the new decoder architecture or
    without ``multi_query``), so Falcon MQA is special-cased to 1 KV head.
    GPTBigCode maps ``num_key_value_heads`` to 1 under ``multi_query`` itself.
    """
    if getattr(config, "model_type", None) == "falcon":
        layers = config.num_hidden_layers
        heads = config.num_attention_heads
        head_dim = config.hidden_size // heads
        if config.new_decoder_architecture:
            kv_heads = config.num_kv_heads
        elif config.multi_query:
            kv_heads = 1
        else:
            kv_heads = heads
        return layers, kv_heads, head_dim
    return export_hf.kv_geometry(config)


class GenerateStep(torch.nn.Module):
    """(input_ids, attention_mask, position_ids, *past k/v) -> (logits, *present k/v).

    The inputs ``model.generate`` passes to a causal LM at every step.  As in
    ``export_hf.CausalLMStep`` the cache is rebuilt from flat tensors (key, value
    per layer) and flattened again.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        setattr(self, WRAPPED, model)

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        model = getattr(self, WRAPPED)
        cache = DynamicCache(config=model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        present = [t for lay in out.past_key_values.layers for t in (lay.keys, lay.values)]
        return (out.logits, *present)


def causal_spec(
    model: torch.nn.Module,
    phase: str,
    *,
    style: str = "ids",
    batch: int = 1,
    seq: int | None = None,
    past: int = PAST_LEN,
    device: str | torch.device | None = None,
) -> export_hf.ExportSpec:
    """Export spec of a causal LM for ``phase`` in {"prefill", "decode"}.

    ``style="ids"`` is ``export_hf.causal_spec`` (``input_ids`` and the past
    only) with this module's ``kv_geometry``.  ``style="gen"`` adds
    ``attention_mask`` (int64 ones, [batch, past + seq], past = 0 in prefill)
    and ``position_ids`` (int64 [batch, seq], ``past .. past + seq - 1``) after
    ``input_ids``.  The random ids and past tensors are the same in both styles.
    """
    if style not in ("ids", "gen"):
        raise ValueError(f"unknown input style {style!r}")
    layers, kv_heads, head_dim = kv_geometry(model.config)
    vocab = model.config.vocab_size
    if seq is None:
        seq = PREFILL_LEN if phase == "prefill" else 1
    gen = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    pasts: list[torch.Tensor] = []
    if phase == "decode":
        pasts = [torch.randn(batch, kv_heads, past, head_dim, generator=gen) for _ in range(2 * layers)]
    elif phase == "prefill":
        past = 0
    else:
        raise ValueError(f"unknown phase {phase!r}")
    extra: list[torch.Tensor] = []
    extra_names: list[str] = []
    if style == "gen":
        mask = torch.ones(batch, past + seq, dtype=torch.int64)
        positions = torch.arange(past, past + seq, dtype=torch.int64).expand(batch, seq).contiguous()
        extra, extra_names = [mask, positions], ["attention_mask", "position_ids"]
    args = tuple(t.to(device) if device is not None else t for t in (ids, *extra, *pasts))
    module = GenerateStep(model) if style == "gen" else export_hf.CausalLMStep(model)
    return export_hf.ExportSpec(
        module=module,
        args=args,
        input_names=["input_ids"] + extra_names + (export_hf.kv_names("past", layers) if pasts else []),
        output_names=["logits"] + export_hf.kv_names("present", layers),
    )


# --------------------------------------------------------------------------- structure

_LAYER_SCOPE = re.compile(r"\.(?:layers|h)\.(\d+)$")


def node_layer(node) -> int | None:
    """Decoder layer index of an exported node, from the exporter's name scopes.

    Needs the node metadata (``pkg.torch.onnx.name_scopes``), i.e. must run
    before ``export_hf.strip_metadata``.  ``None`` for nodes outside any layer.
    """
    scopes = node.metadata_props.get("pkg.torch.onnx.name_scopes")
    if not scopes:
        return None
    for scope in reversed(ast.literal_eval(scopes)):
        m = _LAYER_SCOPE.search(scope)
        if m:
            return int(m.group(1))
    return None


@dataclass
class SharedValue:
    """A value that nodes of several decoder layers read (see ``shared_values``)."""

    name: str
    op: str  # producing op type
    scope: str  # producing module scope (exporter name scope)
    layers: list[int]  # layers with a node that reads it
    readers: int  # number of reading nodes inside layers
    from_inputs: list[str] = field(default_factory=list)  # graph inputs it depends on
    type: str = ""  # dtype and shape, e.g. "FLOAT[1,8,16]"


def shared_values(ir_model, *, min_layers: int = 2) -> list[SharedValue]:
    """Values that nodes of >= ``min_layers`` decoder layers read.

    Candidates are the outputs of all nodes (``Constant`` nodes excepted) and
    the initializers of rank >= 2.  In ``-noopt`` graphs the shared values are
    computed outside every layer (rotary tables, mask).  In ``-opt`` graphs
    the optimiser folds constant ones into initializers, and its common
    subexpression elimination merges the per-layer ``Unsqueeze`` of cos/sin into
    one node that keeps the name scope of layer 0, so the shared value is then
    produced "in layer 0".  The residual stream is read by the next layer only
    and per-layer weights by their own layer, so neither is reported.  For each
    value, also the graph inputs it is computed from (none: it is a function of
    initializers/constants only, and a constant folder can fold it).
    """
    graph = ir_model.graph
    inputs = {v.name for v in graph.inputs}
    layer_of: dict[int, int | None] = {id(node): node_layer(node) for node in graph}
    candidates = []
    for node in graph:
        if node.op_type != "Constant":
            candidates.extend((value, node) for value in node.outputs)
    for value in graph.initializers.values():
        if value.shape is not None and len(value.shape) >= 2:
            candidates.append((value, None))
    out: list[SharedValue] = []
    for value, node in candidates:
        readers = [u for u, _ in value.uses() if layer_of.get(id(u)) is not None]
        layers = sorted({layer for layer in (layer_of.get(id(u)) for u in readers) if layer is not None})
        if len(layers) < min_layers:
            continue
        if node is None:
            op, scope = "initializer", "-"
        else:
            scopes = ast.literal_eval(node.metadata_props.get("pkg.torch.onnx.name_scopes", "[]"))
            scope = next((s.split(".")[-1] for s in reversed(scopes[:-1]) if s), "<top>")
            if layer_of[id(node)] is not None:
                scope = f"layer {layer_of[id(node)]}: {scope}"
            op = node.op_type
        shape = "?" if value.shape is None else "[" + ",".join(str(d) for d in value.shape) + "]"
        dtype = value.dtype.name if value.dtype is not None else "?"
        out.append(
            SharedValue(
                value.name, op, scope, layers, len(readers), sorted(upstream_inputs(value) & inputs), f"{dtype}{shape}"
            )
        )
    return out


_BLOCK_SCOPE = re.compile(r"\.(?:layers|h)\.(\d+)\.(self_attn|attn|attention|self_attention|mlp)$")


def parallel_layers(ir_model) -> list[bool]:
    """Per decoder layer: is the MLP independent of the attention output?

    A node belongs to the attention (MLP) of layer ``l`` if one of its name
    scopes is ``...layers.<l>.{self_attn,attn,attention,self_attention}``
    (``...layers.<l>.mlp``); ``h.<l>`` is accepted for ``layers.<l>``.  The
    layer is parallel if no MLP node depends, transitively, on an attention node
    of the same layer.  Needs the exporter's node metadata.
    """
    graph = ir_model.graph
    part: dict[int, tuple[int, str]] = {}
    for node in graph:
        scopes = node.metadata_props.get("pkg.torch.onnx.name_scopes")
        if not scopes or node.op_type == "Constant":
            continue
        for scope in ast.literal_eval(scopes):
            m = _BLOCK_SCOPE.search(scope)
            if m:
                part[id(node)] = (int(m.group(1)), "mlp" if m.group(2) == "mlp" else "attn")
                break
    layers = sorted({lay for lay, _ in part.values()})
    result = []
    for layer in layers:
        # forward closure (values) of this layer's attention nodes
        reached: set[int] = set()
        stack = [v for n in graph if part.get(id(n)) == (layer, "attn") for v in n.outputs]
        while stack:
            v = stack.pop()
            if id(v) in reached:
                continue
            reached.add(id(v))
            for user, _ in v.uses():
                stack.extend(user.outputs)
        mlp_nodes = [n for n in graph if part.get(id(n)) == (layer, "mlp")]
        assert mlp_nodes, f"no MLP nodes found in layer {layer}"
        result.append(not any(id(i) in reached for n in mlp_nodes for i in n.inputs if i is not None))
    return result


def upstream_inputs(value) -> set[str]:
    """Names of graph inputs (and initializers) ``value`` is computed from."""
    seen: set[int] = set()
    names: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        node = v.producer()
        if node is None:
            if v.name:
                names.add(v.name)
            continue
        stack.extend(i for i in node.inputs if i is not None)
    return names


def format_shared(shared: Sequence[SharedValue], layers: int) -> list[str]:
    lines = []
    for s in shared:
        read = "all" if s.layers == list(range(layers)) else str(s.layers)
        dep = ", ".join(s.from_inputs) if s.from_inputs else "constants only"
        lines.append(
            f"{s.name} {s.type} = {s.op} (in {s.scope}), read by {s.readers} nodes in {read} layers; from {dep}"
        )
    return lines


def check_generate_sharing(ir_model, shared: Sequence[SharedValue]) -> None:
    """Assert the generate-style structure: one Cos and one Sin in the graph, and
    values computed from ``position_ids`` (the rotary cos/sin) and from
    ``attention_mask`` (the mask) that nodes of every decoder layer read."""
    ops = [n.op_type for n in ir_model.graph]
    assert ops.count("Cos") == 1 and ops.count("Sin") == 1, (ops.count("Cos"), ops.count("Sin"))
    layers = sorted({lay for n in ir_model.graph if (lay := node_layer(n)) is not None})
    everywhere = [s for s in shared if s.layers == layers]
    rotary = [s for s in everywhere if "position_ids" in s.from_inputs]
    mask = [s for s in everywhere if "attention_mask" in s.from_inputs]
    assert len(rotary) >= 2 and len(mask) >= 1, format_shared(shared, len(layers))


# --------------------------------------------------------------------------- driver


@dataclass
class Result(export_hf.Result):
    shared: list[SharedValue] = field(default_factory=list)
    layers: int = 0
    parallel: list[bool] = field(default_factory=list)


def export_one(
    spec: export_hf.ExportSpec,
    path: Path,
    *,
    optimize: bool,
    check: bool = True,
    keep_metadata: bool = False,
) -> Result:
    """``export_hf.export_one`` plus the ``shared_values`` analysis (taken before
    the metadata is stripped; for ``-opt`` graphs the optimiser keeps the metadata)."""
    program, seconds = export_hf.export(spec, optimize=optimize)
    shared = shared_values(program.model)
    parallel = parallel_layers(program.model)
    if isinstance(spec.module, GenerateStep):
        check_generate_sharing(program.model, shared)
    export_hf.save_inline(program, path, keep_metadata=keep_metadata)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    diff = export_hf.compare_with_torch(path, spec) if check else None
    ins, outs = export_hf.io_summary(model)
    sym_in, sym_out = export_hf.symbolic_dims(model)
    layers = getattr(spec.module, WRAPPED).config.num_hidden_layers
    return Result(
        path,
        seconds,
        len(model.graph.node),
        path.stat().st_size,
        export_hf.op_histogram(model),
        diff,
        ins,
        outs,
        sym_in,
        sym_out,
        shared=shared,
        layers=layers,
        parallel=parallel,
    )


def report(r: Result) -> None:
    export_hf.report(r, io=True)
    print(f"    parallel attention/MLP per layer: {r.parallel}")
    for line in format_shared(r.shared, r.layers):
        print(f"    shared: {line}")
    sys.stdout.flush()


def export_all(
    out_dir: Path = HERE,
    models: Sequence[str] = ALL_MODELS,
    *,
    check: bool = True,
    keep_metadata: bool = False,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for name in models:
        model = build_model(name)
        # Generate-style files are "<name>_gen-<phase>-<tag>.onnx": a "llama-" prefix
        # would put them among the fixtures tests/unit/test_hf_exports.py expects.
        style, stem = ("gen", f"{name}_gen") if name in GEN_MODELS else ("ids", name)
        for optimize, tag in ((False, "noopt"), (True, "opt")):
            for phase in ("prefill", "decode"):
                spec = causal_spec(model, phase, style=style)
                r = export_one(
                    spec,
                    out_dir / f"{stem}-{phase}-{tag}.onnx",
                    optimize=optimize,
                    check=check,
                    keep_metadata=keep_metadata,
                )
                results.append(r)
                if on_result:
                    on_result(r)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--only", nargs="*", choices=ALL_MODELS, default=list(ALL_MODELS))
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-torch comparison")
    parser.add_argument(
        "--keep-metadata", action="store_true", help="keep the exporter's node metadata (stack traces etc.)"
    )
    ns = parser.parse_args(argv)
    print(export_hf.versions())
    results = export_all(ns.out_dir, ns.only, check=not ns.no_check, keep_metadata=ns.keep_metadata, on_result=report)
    total = sum(r.size for r in results)
    print("\nsizes:")
    for r in results:
        print(f"  {r.size:>9,d}  {r.path.name}")
    print(f"  {total:>9,d}  total ({total / 2**20:.2f} MiB, {len(results)} files)")
    worst = max((r.max_diff for r in results if r.max_diff is not None), default=None)
    if worst is not None:
        print(f"worst max|ort-torch| {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
