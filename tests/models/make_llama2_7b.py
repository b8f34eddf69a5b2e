"""Export the full Llama-2-7B architecture to ONNX without any weights.

The model is built on the ``meta`` device (no memory, no download, no
network) and exported with ``torch.onnx.export(..., dynamo=True,
optimize=False)`` for two phases:

* ``prefill``: ``input_ids`` [1, 512];
* ``decode``:  ``input_ids`` [1, 1] and ``past_key_<l>`` / ``past_value_<l>``
  [1, 32, 511, 128] for l = 0..31.

Both output ``logits`` [1, seq, 32000] and ``present_key_<l>`` /
``present_value_<l>`` [1, 32, 512, 128].

With ``--style gen`` (the default writes both styles) the graphs take the
inputs ``model.generate`` feeds a model instead: ``input_ids``,
``attention_mask`` (int64 ones [1, past + seq]) and ``position_ids`` (int64
[1, seq]) before the past tensors (``export_hf_extra.GenerateStep``).  They are
written as ``llama2-7b-{prefill,decode}-gen.onnx``; the rotary cos/sin and the
causal mask are then computed once, from graph inputs, and read by all 32
layers (checked by ``export_hf_extra.check_generate_sharing``).

Meta tensors have no data, so the exporter cannot save them.  Every parameter
initializer is therefore rewritten into an initializer with
``data_location = EXTERNAL`` (``dims`` and ``data_type`` set) that points at
``llama2-7b.weights.bin`` -- a file that is never written.  ``location`` /
``offset`` / ``length`` describe a consistent hypothetical layout: the HF
parameters in ``named_parameters()`` order, 64-byte aligned, float32; both phases
use the same layout.  Initializer names are the HF parameter names
(``model.layers.0.self_attn.q_proj.weight``, ``lm_head.weight``, ...).  The one
non-parameter initializer, the rotary ``inv_freq`` buffer (64 floats, computed
from the config), is materialised on the CPU and stored inline.

Load the result with ``onnx.load(path, load_external_data=False)``.

Usage (from the repository root)::

    python tests/models/make_llama2_7b.py [--out-dir DIR] [--phase prefill decode]
        [--style ids gen] [--self-test]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # export_hf is a sibling script, not a package

import export_hf
import export_hf_extra

HERE = Path(__file__).resolve().parent

WEIGHTS_FILE = "llama2-7b.weights.bin"  # referenced, never written
ALIGN = 64
PREFILL_LEN = 512
PAST_LEN = PREFILL_LEN - 1


def llama2_7b_config():
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        intermediate_size=11008,
        vocab_size=32000,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=False,
    )


def build_meta_model(config=None) -> torch.nn.Module:
    from transformers import LlamaForCausalLM

    config = config if config is not None else llama2_7b_config()
    with torch.device("meta"):
        model = LlamaForCausalLM(config).eval()
    return model


def weight_layout(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """name -> (offset, length) of every parameter in a hypothetical weights file."""
    layout: dict[str, tuple[int, int]] = {}
    offset = 0
    for name, param in model.named_parameters():
        length = param.numel() * param.element_size()
        layout[name] = (offset, length)
        offset += -(-length // ALIGN) * ALIGN
    return layout


def cpu_buffers(config) -> dict[str, torch.Tensor]:
    """Non-persistent buffers that are computed from the config (rotary inv_freq)."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    with torch.device("cpu"):
        rotary = LlamaRotaryEmbedding(config)
    return {"model.rotary_emb.inv_freq": rotary.inv_freq.detach().clone()}


def externalise_weights(ir_model, model: torch.nn.Module, location: str = WEIGHTS_FILE) -> int:
    """Point every parameter initializer at absent external data; returns the count.

    Non-parameter initializers must be CPU-computable buffers (see ``cpu_buffers``);
    anything else is an error, since its data would be lost.
    """
    import onnx_ir as ir

    layout = weight_layout(model)
    buffers = cpu_buffers(model.config)
    count = 0
    for value in list(ir_model.graph.initializers.values()):
        name = value.name
        old = value.const_value
        if name in layout:
            offset, length = layout[name]
            value.const_value = ir.ExternalTensor(
                location, offset, length, old.dtype, shape=ir.Shape(old.shape), name=name
            )
            count += 1
        elif name in buffers:
            value.const_value = ir.tensor(buffers[name].numpy(), name=name)
        else:
            raise RuntimeError(f"initializer {name!r} is neither a parameter nor a known buffer")
    return count


def check_graph(proto: onnx.ModelProto) -> None:
    """onnx.checker on a copy whose external initializers are graph inputs.

    The checker rejects an EXTERNAL initializer whose file is missing ("... is not
    regular file"), even in memory, so the absent weights are presented as inputs.
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    keep = []
    for init in copy.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            copy.graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            keep.append(init)
    del copy.graph.initializer[:]
    copy.graph.initializer.extend(keep)
    onnx.checker.check_model(copy)


def export_phase(
    phase: str,
    out_dir: Path,
    *,
    config=None,
    prefill_len: int = PREFILL_LEN,
    stem: str = "llama2-7b",
    keep_metadata: bool = False,
    style: str = "ids",
) -> dict:
    """Export one phase; ``style`` "ids" (``input_ids`` and the past) or "gen"
    (also ``attention_mask`` and ``position_ids``, file ``<stem>-<phase>-gen``)."""
    import onnx_ir as ir

    config = config if config is not None else llama2_7b_config()
    t0 = time.perf_counter()
    model = build_meta_model(config)
    if style == "ids":
        spec = export_hf.causal_spec(
            model,
            phase,
            seq=prefill_len if phase == "prefill" else 1,
            past=prefill_len - 1,
            device="meta",
        )
    else:
        spec = export_hf_extra.causal_spec(
            model,
            phase,
            style=style,
            seq=prefill_len if phase == "prefill" else 1,
            past=prefill_len - 1,
            device="meta",
        )
    program, export_s = export_hf.export(spec, optimize=False)
    # Read from the exporter's name scopes, so before the metadata is stripped.
    shared = export_hf_extra.shared_values(program.model)
    if style == "gen":
        export_hf_extra.check_generate_sharing(program.model, shared)
    n_ext = externalise_weights(program.model, model)
    if not keep_metadata:
        export_hf.strip_metadata(program.model)
    path = out_dir / (f"{stem}-{phase}.onnx" if style == "ids" else f"{stem}-{phase}-{style}.onnx")
    onnx.save_model(ir.serde.serialize_model(program.model), str(path))
    total_s = time.perf_counter() - t0

    proto = onnx.load(str(path), load_external_data=False)
    check_graph(proto)
    ext = [i for i in proto.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    assert len(ext) == n_ext == sum(1 for _ in model.parameters()), (len(ext), n_ext)
    assert all(not i.raw_data and i.dims and i.data_type for i in ext)
    assert not (out_dir / WEIGHTS_FILE).exists()
    params = sum(int(torch.Size(i.dims).numel()) for i in ext)
    ins, outs = export_hf.io_summary(proto)
    return {
        "path": path,
        "export_s": export_s,
        "total_s": total_s,
        "nodes": len(proto.graph.node),
        "size": path.stat().st_size,
        "hist": export_hf.op_histogram(proto),
        "inputs": ins,
        "outputs": outs,
        "external": len(ext),
        "params": params,
        "inline": [i.name for i in proto.graph.initializer if i.data_location != onnx.TensorProto.EXTERNAL],
        "value_info": len(proto.graph.value_info),
        "shared": shared,
        "layers": config.num_hidden_layers,
    }


def write_weights(model: torch.nn.Module, path: Path) -> None:
    """Write ``model``'s parameters in the ``weight_layout`` order (for the self-test)."""
    layout = weight_layout(model)
    with open(path, "wb") as f:
        for name, param in model.named_parameters():
            offset, length = layout[name]
            f.write(b"\0" * (offset - f.tell()))
            data = param.detach().contiguous().numpy().tobytes()
            assert len(data) == length
            f.write(data)


def self_test(styles: Sequence[str] = ("ids", "gen")) -> float:
    """Run this script's meta-device path on the tiny Llama config (export_hf) and
    check it against torch: write the weights file the graph points at from a
    seed-0 CPU model, run onnxruntime, compare.  Returns the worst max |diff|."""
    import tempfile

    import onnxruntime as ort

    config = export_hf.tiny_config("llama")
    cpu_model = export_hf.build_model("llama", config)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        for style, phase in [(s, p) for s in styles for p in ("prefill", "decode")]:
            r = export_phase(phase, tmp_dir, config=config, prefill_len=export_hf.PREFILL_LEN, stem="tiny", style=style)
            write_weights(cpu_model, tmp_dir / WEIGHTS_FILE)
            if style == "ids":
                spec = export_hf.causal_spec(cpu_model, phase, past=export_hf.PREFILL_LEN - 1)
            else:
                spec = export_hf_extra.causal_spec(cpu_model, phase, style=style, past=export_hf.PREFILL_LEN - 1)
            with torch.no_grad():
                expected = spec.module(*spec.args)
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            sess = ort.InferenceSession(str(r["path"]), opts, providers=["CPUExecutionProvider"])
            got = sess.run(None, {n: a.numpy() for n, a in zip(spec.input_names, spec.args)})
            diff = max(float(abs(e.numpy() - g).max()) for e, g in zip(expected, got))
            label = phase if style == "ids" else f"{phase}-{style}"
            print(f"self-test {label}: {r['nodes']} nodes, max|ort-torch| {diff:.2e}")
            worst = max(worst, diff)
            (tmp_dir / WEIGHTS_FILE).unlink()
    assert worst < 1e-4, worst
    return worst


def _short_io(items: list) -> str:
    if len(items) <= 6:
        return str(items)
    return f"{items[:3]} ... {items[-2:]} ({len(items)} in all)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--phase", nargs="*", choices=("prefill", "decode"), default=["prefill", "decode"])
    parser.add_argument(
        "--style",
        nargs="*",
        choices=("ids", "gen"),
        default=["ids", "gen"],
        help="graph inputs: ids = input_ids + past (llama2-7b-<phase>.onnx), "
        "gen = input_ids, attention_mask, position_ids + past "
        "(llama2-7b-<phase>-gen.onnx)",
    )
    parser.add_argument(
        "--keep-metadata", action="store_true", help="keep the exporter's node metadata (stack traces etc.)"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="first check the meta-device/external-weights path on a tiny "
        "Llama against torch (writes its weights to a temp dir)",
    )
    ns = parser.parse_args(argv)
    ns.out_dir.mkdir(parents=True, exist_ok=True)
    print(export_hf.versions())
    if ns.self_test:
        self_test(ns.style)
    for style, phase in [(s, p) for s in ns.style for p in ns.phase]:
        r = export_phase(phase, ns.out_dir, keep_metadata=ns.keep_metadata, style=style)
        print(
            f"{r['path'].name}: {r['nodes']} nodes, {r['size'] / 2**20:.2f} MiB, "
            f"torch.onnx.export {r['export_s']:.1f}s (total {r['total_s']:.1f}s), "
            f"{r['external']} external initializers ({r['params']:,} params), "
            f"inline initializers {r['inline']}, {r['value_info']} value_info"
        )
        print(f"    {export_hf.format_histogram(r['hist'])}")
        print(f"    inputs  {_short_io(r['inputs'])}")
        print(f"    outputs {_short_io(r['outputs'])}")
        for line in export_hf_extra.format_shared(r["shared"], r["layers"]):
            print(f"    shared: {line}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
