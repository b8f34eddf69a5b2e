"""Export tiny, randomly initialised HuggingFace models to ONNX fixtures.

The models are built from configs only (``torch.manual_seed(0)``, no hub
download, no network) and exported with the dynamo-based exporter,
``torch.onnx.export(..., dynamo=True, optimize=<flag>)``.

Causal LMs (GPT-2, Llama with GQA, OPT) are exported in two phases:

* ``prefill``: ``input_ids`` [1, 8], no cache inputs;
* ``decode``:  ``input_ids`` [1, 1] plus ``past_key_<l>`` / ``past_value_<l>``
  [1, kv_heads, 7, head_dim] for every layer ``l``.

Both phases output ``logits`` and ``present_key_<l>`` / ``present_value_<l>``.
BERT (encoder only) is exported for ``prefill`` with ``input_ids`` and
``attention_mask`` [1, 8] and outputs ``last_hidden_state`` and ``pooler_output``.

Every model/phase is written unoptimised (``-noopt``) and optimised (``-opt``);
GPT-2 and Llama decode are also written with dynamic ``batch``/``seq``/``past``
dims (``-decode-dynamic``, unoptimised).  Weights are stored inside the files and
keep their HuggingFace parameter names.  Node metadata written by the exporter
(stack traces with absolute paths, FX node text, class hierarchies) is dropped
unless ``--keep-metadata`` is given; it is about half of each file.

Usage (from the repository root)::

    python tests/models/export_hf.py                 # all fixtures
    python tests/models/export_hf.py --only llama    # one model
    python tests/models/export_hf.py --out-dir /tmp/x --no-check

Each export is run in onnxruntime on random inputs and compared with torch.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

HERE = Path(__file__).resolve().parent
SEED = 0
PREFILL_LEN = 8
PAST_LEN = 7
VOCAB = 512
# The exporter registers the wrapped model under this attribute, so its
# parameters come out as ``<WRAPPED>.<hf name>``; the prefix is stripped again.
WRAPPED = "hf"

CAUSAL_MODELS = ("gpt2", "llama", "opt")
ENCODER_MODELS = ("bert",)
ALL_MODELS = CAUSAL_MODELS + ENCODER_MODELS
DYNAMIC_MODELS = ("gpt2", "llama")


# --------------------------------------------------------------------------- models


def tiny_config(name: str):
    """The config of one tiny fixture model (no weights, no download)."""
    import transformers as tf

    if name == "gpt2":
        return tf.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=VOCAB, n_positions=64)
    if name == "llama":
        return tf.LlamaConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
        )
    if name == "opt":
        return tf.OPTConfig(
            num_hidden_layers=2,
            hidden_size=64,
            word_embed_proj_dim=64,
            num_attention_heads=4,
            ffn_dim=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
        )
    if name == "bert":
        return tf.BertConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=128,
            vocab_size=VOCAB,
            max_position_embeddings=64,
        )
    raise ValueError(f"unknown model {name!r}; expected one of {ALL_MODELS}")


def build_model(name: str, config=None) -> torch.nn.Module:
    """A randomly initialised (seed 0) HF model in eval mode."""
    import transformers as tf

    config = config if config is not None else tiny_config(name)
    cls = {
        "gpt2": tf.GPT2LMHeadModel,
        "llama": tf.LlamaForCausalLM,
        "opt": tf.OPTForCausalLM,
        "bert": tf.BertModel,
    }[name]
    torch.manual_seed(SEED)
    return cls(config).eval()


def kv_geometry(config) -> tuple[int, int, int]:
    """(layers, kv_heads, head_dim) of a causal LM config."""
    layers = config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return layers, kv_heads, head_dim


class CausalLMStep(torch.nn.Module):
    """(input_ids, *past k/v tensors) -> (logits, *present k/v tensors).

    torch.export cannot take or return a transformers ``DynamicCache``, so the
    cache is rebuilt from flat tensors (key, value per layer) and flattened again.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        setattr(self, WRAPPED, model)

    def forward(self, input_ids, *past):
        from transformers import DynamicCache

        model = getattr(self, WRAPPED)
        cache = DynamicCache(config=model.config)
        for layer in range(len(past) // 2):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = model(input_ids=input_ids, past_key_values=cache, use_cache=True)
        present = [t for lay in out.past_key_values.layers for t in (lay.keys, lay.values)]
        return (out.logits, *present)


class EncoderStep(torch.nn.Module):
    """(input_ids[, attention_mask]) -> (last_hidden_state, pooler_output)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        setattr(self, WRAPPED, model)

    def forward(self, input_ids, attention_mask=None):
        out = getattr(self, WRAPPED)(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state, out.pooler_output


# --------------------------------------------------------------------------- specs


@dataclass
class ExportSpec:
    """One graph to export: module, example inputs and I/O names."""

    module: torch.nn.Module
    args: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: object = None


def kv_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kv}_{layer}" for layer in range(layers) for kv in ("key", "value")]


def causal_spec(
    model: torch.nn.Module,
    phase: str,
    *,
    batch: int = 1,
    seq: int | None = None,
    past: int = PAST_LEN,
    dynamic: bool = False,
    device: str | torch.device | None = None,
) -> ExportSpec:
    """Export spec of a causal LM for ``phase`` in {"prefill", "decode"}."""
    layers, kv_heads, head_dim = kv_geometry(model.config)
    vocab = model.config.vocab_size
    if seq is None:
        seq = PREFILL_LEN if phase == "prefill" else 1
    gen = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    pasts: list[torch.Tensor] = []
    if phase == "decode":
        pasts = [torch.randn(batch, kv_heads, past, head_dim, generator=gen) for _ in range(2 * layers)]
    elif phase != "prefill":
        raise ValueError(f"unknown phase {phase!r}")
    args = tuple(t.to(device) if device is not None else t for t in (ids, *pasts))
    dynamic_shapes = None
    if dynamic:
        from torch.export import Dim

        b, s, p = Dim("batch"), Dim("seq"), Dim("past")
        # *past is a varargs parameter: its specs go in one nested tuple.
        dynamic_shapes = ({0: b, 1: s}, tuple({0: b, 2: p} for _ in pasts))
    return ExportSpec(
        module=CausalLMStep(model),
        args=args,
        input_names=["input_ids"] + (kv_names("past", layers) if pasts else []),
        output_names=["logits"] + kv_names("present", layers),
        dynamic_shapes=dynamic_shapes,
    )


def encoder_spec(model: torch.nn.Module, *, with_mask: bool = True) -> ExportSpec:
    gen = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, model.config.vocab_size, (1, PREFILL_LEN), generator=gen)
    mask = torch.ones(1, PREFILL_LEN, dtype=torch.int64)
    mask[0, -2:] = 0  # some padding, so the mask path is exercised
    args = (ids, mask) if with_mask else (ids,)
    return ExportSpec(
        module=EncoderStep(model),
        args=args,
        input_names=["input_ids", "attention_mask"][: len(args)],
        output_names=["last_hidden_state", "pooler_output"],
    )


# --------------------------------------------------------------------------- export


def export(spec: ExportSpec, *, optimize: bool):
    """torch.onnx.export (dynamo) of ``spec``; returns (ONNXProgram, seconds).

    The returned program's IR model has HF initializer names and, unless
    ``strip_metadata`` is called, the exporter's node metadata.
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            spec.module,
            spec.args,
            dynamo=True,
            optimize=optimize,
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_shapes=spec.dynamic_shapes,
            verbose=False,
        )
    seconds = time.perf_counter() - t0
    strip_wrapper_prefix(program.model)
    return program, seconds


def strip_wrapper_prefix(model, prefix: str = WRAPPED + ".") -> None:
    """Rename initializers ``hf.<name>`` to the HF parameter name ``<name>``."""
    graph = model.graph
    for value in list(graph.initializers.values()):
        if value.name and value.name.startswith(prefix):
            value.name = value.name[len(prefix) :]


def strip_metadata(model) -> None:
    """Drop exporter metadata (stack traces, FX text, class hierarchy) everywhere."""
    model.metadata_props.clear()
    model.graph.metadata_props.clear()
    for node in model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph:
        node.metadata_props.clear()
        for value in node.outputs:
            value.metadata_props.clear()
    for value in list(model.graph.inputs) + list(model.graph.initializers.values()):
        value.metadata_props.clear()


def save_inline(program, path: Path, *, keep_metadata: bool = False) -> None:
    """Save with all initializers stored inside the ``.onnx`` file."""
    import onnx_ir as ir

    if not keep_metadata:
        strip_metadata(program.model)
    proto = ir.serde.serialize_model(program.model)
    onnx.save_model(proto, str(path), save_as_external_data=False)


# --------------------------------------------------------------------------- checks


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def format_histogram(hist: dict[str, int]) -> str:
    return " ".join(f"{op}:{n}" for op, n in hist.items())


def dims(value_info) -> list:
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def io_summary(model: onnx.ModelProto) -> tuple[list, list]:
    inits = {i.name for i in model.graph.initializer}
    ins = [(v.name, dims(v)) for v in model.graph.input if v.name not in inits]
    outs = [(v.name, dims(v)) for v in model.graph.output]
    return ins, outs


def symbolic_dims(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """dim_param names in graph inputs and graph outputs, first-seen order."""

    def collect(values):
        seen: dict[str, None] = {}
        for v in values:
            for d in v.type.tensor_type.shape.dim:
                if d.HasField("dim_param"):
                    seen.setdefault(d.dim_param, None)
        return list(seen)

    return collect(model.graph.input), collect(model.graph.output)


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def compare_with_torch(path: Path, spec: ExportSpec, args: Sequence[torch.Tensor] | None = None) -> float:
    """Run ``path`` in onnxruntime and ``spec.module`` in torch; max |diff| of all outputs."""
    import onnxruntime as ort

    args = tuple(spec.args if args is None else args)
    with torch.no_grad():
        expected = spec.module(*args)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # CastLike constant-folding notices are noise
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feeds = {name: _to_numpy(a) for name, a in zip(spec.input_names, args)}
    got = sess.run(None, feeds)
    out_names = [o.name for o in sess.get_outputs()]
    assert out_names == spec.output_names, (out_names, spec.output_names)
    worst = 0.0
    for e, g in zip(expected, got):
        e, g = _to_numpy(e), np.asarray(g)
        assert e.shape == g.shape, (e.shape, g.shape)
        worst = max(worst, float(np.max(np.abs(e - g))) if e.size else 0.0)
    return worst


def dynamic_probe_args(spec: ExportSpec, batch: int, seq: int, past: int) -> tuple:
    """Random inputs of other sizes for a dynamic causal spec."""
    _, *pasts = spec.args
    gen = torch.Generator().manual_seed(SEED + 2)
    vocab = getattr(spec.module, WRAPPED).config.vocab_size
    new_ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    new_pasts = [torch.randn(batch, p.shape[1], past, p.shape[3], generator=gen) for p in pasts]
    return (new_ids, *new_pasts)


# --------------------------------------------------------------------------- driver


@dataclass
class Result:
    path: Path
    seconds: float
    nodes: int
    size: int
    hist: dict[str, int]
    max_diff: float | None
    inputs: list
    outputs: list
    sym_in: list[str]
    sym_out: list[str]


def export_one(
    spec: ExportSpec,
    path: Path,
    *,
    optimize: bool,
    check: bool = True,
    keep_metadata: bool = False,
    probes: Sequence[tuple[int, int, int]] = (),
) -> Result:
    program, seconds = export(spec, optimize=optimize)
    save_inline(program, path, keep_metadata=keep_metadata)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    diff = None
    if check:
        diff = compare_with_torch(path, spec)
        for b, s, p in probes:
            diff = max(diff, compare_with_torch(path, spec, dynamic_probe_args(spec, b, s, p)))
    ins, outs = io_summary(model)
    sym_in, sym_out = symbolic_dims(model)
    return Result(
        path, seconds, len(model.graph.node), path.stat().st_size, op_histogram(model), diff, ins, outs, sym_in, sym_out
    )


def report(r: Result, *, io: bool = False) -> None:
    diff = "n/a" if r.max_diff is None else f"{r.max_diff:.2e}"
    print(f"{r.path.name}: {r.nodes} nodes, {r.size / 1024:.0f} KiB, export {r.seconds:.1f}s, max|ort-torch| {diff}")
    print(f"    {format_histogram(r.hist)}")
    if io:
        print(f"    inputs  {r.inputs}")
        print(f"    outputs {r.outputs}")
    if r.sym_in or r.sym_out:
        print(f"    symbolic dims: inputs {r.sym_in}, outputs {r.sym_out}")
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

    def emit(r: Result) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    for name in models:
        model = build_model(name)
        for optimize in (False, True):
            tag = "opt" if optimize else "noopt"
            if name in ENCODER_MODELS:
                try:
                    spec = encoder_spec(model, with_mask=True)
                    r = export_one(
                        spec,
                        out_dir / f"{name}-prefill-{tag}.onnx",
                        optimize=optimize,
                        check=check,
                        keep_metadata=keep_metadata,
                    )
                except Exception as exc:  # fall back as documented
                    print(f"{name}: export with attention_mask failed ({exc!r:.200}); retrying with input_ids only")
                    spec = encoder_spec(model, with_mask=False)
                    r = export_one(
                        spec,
                        out_dir / f"{name}-prefill-{tag}.onnx",
                        optimize=optimize,
                        check=check,
                        keep_metadata=keep_metadata,
                    )
                emit(r)
                continue
            for phase in ("prefill", "decode"):
                spec = causal_spec(model, phase)
                emit(
                    export_one(
                        spec,
                        out_dir / f"{name}-{phase}-{tag}.onnx",
                        optimize=optimize,
                        check=check,
                        keep_metadata=keep_metadata,
                    )
                )
        if name in DYNAMIC_MODELS:
            # Example sizes must not be 0 or 1, or torch.export specialises the dim.
            spec = causal_spec(model, "decode", batch=2, seq=3, past=PAST_LEN, dynamic=True)
            emit(
                export_one(
                    spec,
                    out_dir / f"{name}-decode-dynamic.onnx",
                    optimize=False,
                    check=check,
                    keep_metadata=keep_metadata,
                    probes=[(1, 1, PAST_LEN), (1, 1, 30), (3, 4, 5)],
                )
            )
    return results


def versions() -> str:
    import onnxruntime
    import onnxscript
    import transformers

    return (
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"onnxscript {onnxscript.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--only", nargs="*", choices=ALL_MODELS, default=list(ALL_MODELS))
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-torch comparison")
    parser.add_argument(
        "--keep-metadata", action="store_true", help="keep the exporter's node metadata (stack traces etc.)"
    )
    ns = parser.parse_args(argv)
    print(versions())
    results = export_all(
        ns.out_dir,
        ns.only,
        check=not ns.no_check,
        keep_metadata=ns.keep_metadata,
        on_result=lambda r: report(r, io=True),
    )
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
