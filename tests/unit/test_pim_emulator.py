"""The functional emulator runs the emitted AiM and AttAcc streams on the real data and catches wrong streams.

Synthetic GEMVs and attention ops are lowered and emitted as lower-to-pim and
convert-pim-to-aim do it for the gddr6-aim device (32 channels x 16 banks, 1024
FP16 elements per row), executed by the emulator and compared with numpy in
float64 within the FP16 bound of the documented arithmetic. Streams that are
wrong in one field (a row, an opsize, a channel mask, a missing read) must fail
or give a wrong answer. `pimc run` checks whole models against onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import FloatAttr, StringAttr, TensorType, f32, f64
from xdsl.ir import Block, Operation, Region
from xdsl.rewriter import Rewriter

from pimc.compiler.cli import main
from pimc.compiler.run import format_run, run_model
from pimc.dialects import aim, attacc, nn, pim
from pimc.errors import CompileError
from pimc.passes.convert_pim_to_aim import aim_attention_commands, aim_gemv_commands
from pimc.passes.convert_pim_to_attacc import attacc_commands
from pimc.passes.lower_to_pim import RowAllocator, gemv_layout, lower_attention
from pimc.targets.interp.pim_emulator import (
    AimFunctions,
    BankImage,
    EmulatorError,
    PimFunctions,
    emulate_attention,
    emulate_gemv,
)
from pimc.targets.interp.reference import ReferenceError, attention_probabilities, call_function, reference_interpreter
from pimc.targets.system import Device, load_system

Command = TypeVar("Command", bound=aim.AimCommandOp | attacc.AttaccCommandOp)

REPO = Path(__file__).resolve().parents[2]
EPS16 = 2.0**-11  # FP16 unit roundoff


def _aim():
    return load_system("npu-aim").devices["pim"]


def _gemv(m: int, k: int, n: int, bias: bool, transpose: bool = False, dev: Device | None = None) -> pim.GemvOp:
    dev = dev or _aim()
    x = nn.WeightOp("x", TensorType(f32, [m, k]))
    w = nn.WeightOp("w", TensorType(f32, [n, k] if transpose else [k, n]))
    b = nn.WeightOp("b", TensorType(f32, [n])) if bias else None
    layout = gemv_layout(k, n, dev, RowAllocator(dev.pim.rows_per_bank), "w", transpose, "g")
    op = pim.GemvOp(x.result, w.result, b.result if b else None, TensorType(f32, [m, n]), layout, transpose)
    op.commands.add_block(Block(aim_gemv_commands(op, dev) if dev.pim.isa == "aim" else attacc_commands(op, dev)))
    return op


def _bound(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """|error| bound: FP16 operands (2 roundings per product), FP32 sums, one FP16 rounding of the result."""
    mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64))
    if bias is not None:
        mag = mag + np.abs(bias)
    return 4 * EPS16 * mag + 1e-6


GEMVS = [
    (1, 16, 8, False),
    (1, 100, 700, True),
    (3, 2500, 513, True),
    (2, 1024, 512, False),
    (1, 4096, 11008 // 8, False),
]


@pytest.mark.parametrize("m,k,n,bias", GEMVS)
def test_gemv_stream_computes_x_w(m: int, k: int, n: int, bias: bool) -> None:
    rng = np.random.default_rng(k + n)
    op = _gemv(m, k, n, bias)
    x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    y = emulate_gemv(op, x, w, b, _aim(), BankImage.for_device(_aim()))
    ref = x.astype(np.float64) @ w + (0 if b is None else b)
    assert y.shape == (m, n)
    assert np.all(np.abs(y - ref) <= _bound(x, w, b))


def test_transposed_weight_and_shared_image() -> None:
    """A [N, K] weight (torch Linear) is laid out transposed; a second GEMV reads the rows already written."""
    rng = np.random.default_rng(1)
    op = _gemv(2, 300, 40, False, transpose=True)
    x, w = rng.standard_normal((2, 300)).astype(np.float32), rng.standard_normal((40, 300)).astype(np.float32)
    image = BankImage.for_device(_aim())
    first = emulate_gemv(op, x, w, None, _aim(), image)
    again = emulate_gemv(op, x, w, None, _aim(), image)
    assert np.array_equal(first, again)
    assert np.all(np.abs(first - x.astype(np.float64) @ w.T) <= _bound(x, w.T, None))


def _first(op: pim.GemvOp | pim.AttentionOp, kind: type[Command]) -> Command:
    return next(c for c in op.commands.walk() if isinstance(c, kind))


def _set(cmd: aim.AimCommandOp | attacc.AttaccCommandOp, **fields: int) -> None:
    from xdsl.dialects.builtin import IntegerAttr

    for key, value in fields.items():
        cmd.properties[key] = pim.ChannelsAttr.of(value) if key == "channel_mask" else IntegerAttr(value, 64)
    cmd.verify()


@pytest.mark.parametrize("corrupt", ["row", "opsize", "mask", "drop_read", "drop_gb"])
def test_wrong_stream_is_caught(corrupt: str) -> None:
    """One wrong field in the stream raises or changes the result beyond the FP16 bound."""
    rng = np.random.default_rng(7)
    m, k, n = 1, 2500, 1100  # 3 row tiles, 3 passes (the last on 3 channels)
    op = _gemv(m, k, n, False)
    x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    mac = _first(op, aim.MacAbkOp)
    if corrupt == "row":
        _set(mac, row=mac.row.value.data + 1)  # the second tile's row instead of the first
    elif corrupt == "opsize":
        _set(mac, opsize=mac.opsize.value.data - 1)
    elif corrupt == "mask":
        _set(_first(op, aim.RdMacOp), channel_mask=0xFFFF)
    elif corrupt == "drop_read":
        _first(op, aim.RdMacOp).detach()
    else:
        _first(op, aim.WrGbOp).detach()
    try:
        y = emulate_gemv(op, x, w, None, _aim(), BankImage.for_device(_aim()))
    except EmulatorError:
        return
    assert np.any(np.abs(y - x.astype(np.float64) @ w) > _bound(x, w, None))


# -- AttAcc HBM3-PIM streams ------------------------------------------------------------------------

ATTACC_DEVICES = ["attacc:pim", "papi:fc_pim"]  # 16 MAC lanes (1 vector per MAC); 64 lanes (4 vectors)
ATTACC_GEMVS = [
    (1, 16, 8, False),  # 1 column per output: 16 outputs per open row (row_outputs)
    (5, 100, 700, True),  # 4 + 1 input vectors on FC-PIM; the host adds the bias
    (3, 1300, 513, True),  # 3 row tiles
    (2, 512, 9000, False),  # several passes, the last on fewer channels
]


@pytest.mark.parametrize("device", ATTACC_DEVICES)
@pytest.mark.parametrize("m,k,n,bias", ATTACC_GEMVS)
def test_attacc_gemv_stream_computes_x_w(m: int, k: int, n: int, bias: bool, device: str) -> None:
    dev = _device(device)
    rng = np.random.default_rng(k + n)
    op = _gemv(m, k, n, bias, dev=dev)
    x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    y = emulate_gemv(op, x, w, b, dev, BankImage.for_device(dev))
    ref = x.astype(np.float64) @ w + (0 if b is None else b)
    assert y.shape == (m, n)
    assert np.all(np.abs(y - ref) <= _bound(x, w, b))


def _attacc_ops(op: pim.GemvOp | pim.AttentionOp, kind: type[Command]) -> list[Command]:
    return [c for c in op.commands.walk() if isinstance(c, kind)]


@pytest.mark.parametrize(
    "corrupt", ["mac_row", "mac_row_last", "mac_opsize", "mac_vectors", "mv_sb_mask", "drop_mv_sb", "drop_wr_gb"]
)
def test_wrong_attacc_stream_is_caught(corrupt: str) -> None:
    """One wrong field in an AttAcc GEMV stream raises an EmulatorError naming the op (never the right values)."""
    dev = _device("papi:fc_pim")
    rng = np.random.default_rng(7)
    m, k, n = 5, 1300, 3000  # 3 row tiles, 2 input vector groups
    op = _gemv(m, k, n, False, dev=dev)
    x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    macs = _attacc_ops(op, attacc.MacAbOp)
    if corrupt == "mac_row":
        _set(macs[0], row=macs[0].row.value.data + 1)  # the second tile's row instead of the first
    elif corrupt == "mac_row_last":
        _set(macs[-1], row=macs[-1].row.value.data - 1)
    elif corrupt == "mac_opsize":
        _set(macs[0], opsize=macs[0].opsize.value.data - 1)
    elif corrupt == "mac_vectors":
        _set(macs[0], vectors=macs[0].vectors.value.data - 1)
    elif corrupt == "mv_sb_mask":
        _set(_attacc_ops(op, attacc.MvSbOp)[0], channel_mask=(1 << 80) - 1)
    elif corrupt == "drop_mv_sb":
        _attacc_ops(op, attacc.MvSbOp)[0].detach()
    else:
        _attacc_ops(op, attacc.WrGbOp)[0].detach()
    with pytest.raises(EmulatorError, match=r"op 'pim.gemv': (command \d+ \(attacc\.(mac_ab|mv_sb|wr_gb) |the stream)"):
        emulate_gemv(op, x, w, None, dev, BankImage.for_device(dev))


def _interleaved(op: pim.AttentionOp) -> None:
    """Rewrite the macro's stream unrolled, the channel groups' commands interleaved round robin with a
    barrier after every round (the order another emitter may choose): each group's own order is kept."""
    per_group: dict[int, list[Operation]] = {}
    for cmd, row, channel in list(pim.unroll(op.commands.block)):
        assert isinstance(cmd, attacc.AttaccCommandOp)
        if isinstance(cmd, attacc.BarrierOp):
            continue
        new = cmd.clone()
        mask = cmd.field("channel_mask") << channel
        new.properties["channel_mask"] = pim.ChannelsAttr.of(mask)
        if "row" in cmd.properties:
            _set(new, row=cmd.field("row") + row)
        per_group.setdefault((mask & -mask).bit_length(), []).append(new)
    ops: list[Operation] = []
    queues = list(per_group.values())
    assert len(queues) > 1, "one channel group: nothing to interleave"
    while any(queues):
        for q in queues:
            if q:
                ops.append(q.pop(0))
        ops.append(attacc.BarrierOp())
    for old in list(op.commands.block.ops):
        old.detach()
        old.erase()
    op.commands.block.add_ops(ops)


@pytest.mark.parametrize("device", ["attacc:pim", "papi:attn_pim"])
def test_attacc_attention_in_another_order(device: str) -> None:
    """The emulator executes each op by what it reads and writes, per channel: the heads' commands
    interleaved across channel groups, with barriers between, compute the same attention."""
    b, hq, hkv, s, t, d, dv = 2, 8, 4, 2, 100, 64, 64
    dev = _device(device)
    block = Block(
        arg_types=[TensorType(f32, [b, hq, s, d]), TensorType(f32, [b, hkv, t, d]), TensorType(f32, [b, hkv, t, dv])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=d**-0.5)
    block.add_op(attn)
    op = _attention_op(block, attn, dev)
    rng = np.random.default_rng(11)
    q = rng.standard_normal((b, hq, s, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, dv)).astype(np.float32)

    def probabilities(sc: np.ndarray, mk: np.ndarray | None) -> np.ndarray:
        return attention_probabilities(sc, mk, d**-0.5, None)

    in_order = emulate_attention(op, q, k, v, None, dev, BankImage.for_device(dev), probabilities)
    _interleaved(op)
    assert sum(isinstance(c, attacc.BarrierOp) for c in op.commands.block.ops) > 1
    again = emulate_attention(op, q, k, v, None, dev, BankImage.for_device(dev), probabilities)
    assert np.array_equal(in_order, again)
    kk, vv = np.repeat(k, hq // hkv, axis=1), np.repeat(v, hq // hkv, axis=1)
    ref = probabilities(q.astype(np.float64) @ np.swapaxes(kk, -1, -2), None) @ vv
    assert np.max(np.abs(again - ref)) < 64 * EPS16 * float(np.max(np.abs(vv)))


@pytest.mark.parametrize("corrupt", ["drop_sfm", "sfm_elsewhere", "mv_gb_as_wr_gb", "mac_row"])
def test_wrong_attacc_attention_stream_is_caught(corrupt: str) -> None:
    """The context GEMV's input is the softmax unit's: without an attacc.sfm over the head's scores, with the
    probabilities written by the host, or a key row read twice, the stream fails."""
    b, hq, hkv, s, t, d, dv = 2, 8, 2, 1, 300, 64, 64  # 5 keys per bank's open row
    dev = _device("attacc:pim")
    block = Block(
        arg_types=[TensorType(f32, [b, hq, s, d]), TensorType(f32, [b, hkv, t, d]), TensorType(f32, [b, hkv, t, dv])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=d**-0.5)
    attn.attributes["name"] = StringAttr("attn")
    block.add_op(attn)
    op = _attention_op(block, attn, dev)
    rng = np.random.default_rng(5)
    q = rng.standard_normal((b, hq, s, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, dv)).astype(np.float32)
    if corrupt == "drop_sfm":
        _attacc_ops(op, attacc.SfmOp)[0].detach()
    elif corrupt == "sfm_elsewhere":
        sfm = _attacc_ops(op, attacc.SfmOp)[0]
        _set(sfm, channel_mask=sfm.field("channel_mask") << op.head_channels.value.data * 2)
    elif corrupt == "mv_gb_as_wr_gb":
        mv = _attacc_ops(op, attacc.MvGbOp)[0]
        Rewriter.replace_op(mv, attacc.WrGbOp(mv.field("opsize"), mv.field("vectors"), mv.field("channel_mask")))
    else:
        mac = _attacc_ops(op, attacc.MacAbOp)[0]
        _set(mac, row=mac.row.value.data + 1)
    with pytest.raises(EmulatorError, match=r"op 'attn': "):
        emulate_attention(
            op,
            q,
            k,
            v,
            None,
            dev,
            BankImage.for_device(dev),
            lambda sc, mk: attention_probabilities(sc, mk, 0.125, None),
        )


ATTENTION = [(1, 4, 4, 1, 16, 16, 16), (2, 8, 2, 1, 37, 64, 64), (1, 2, 2, 3, 5, 16, 16), (1, 4, 2, 2, 300, 64, 64)]


def _attention_op(block: Block, attn: nn.AttentionOp, dev: Device) -> pim.AttentionOp:
    lower_attention(attn, dev, RowAllocator(dev.pim.rows_per_bank), Rewriter())
    (op,) = block.ops
    assert isinstance(op, pim.AttentionOp)
    op.commands.add_block(Block(aim_attention_commands(op, dev) if dev.pim.isa == "aim" else attacc_commands(op, dev)))
    return op


def _device(name: str) -> Device:
    system, device = name.split(":")
    return load_system(system).devices[device]


@pytest.mark.parametrize("dims", ATTENTION)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("device", ["npu-aim:pim", "attacc:pim", "papi:attn_pim"])
def test_attention_stream_computes_attention(dims: tuple[int, ...], masked: bool, device: str) -> None:
    """Heads on their channel groups: scores and context on the banks, softmax on the host (AiM) or in the
    buffer die (AttAcc: attacc.sfm, then attacc.mv_gb; several keys per open row, row_outputs)."""
    b, hq, hkv, s, t, d, dv = dims
    dev = _device(device)
    block = Block(
        arg_types=[TensorType(f32, [b, hq, s, d]), TensorType(f32, [b, hkv, t, d]), TensorType(f32, [b, hkv, t, dv])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=d**-0.5)
    block.add_op(attn)
    op = _attention_op(block, attn, dev)
    rng = np.random.default_rng(s * t)
    q = rng.standard_normal((b, hq, s, d)).astype(np.float32)
    k = rng.standard_normal((b, hkv, t, d)).astype(np.float32)
    v = rng.standard_normal((b, hkv, t, dv)).astype(np.float32)
    mask = (rng.random((b, 1, s, t)) > 0.3) if masked else None
    scale = d**-0.5
    got = emulate_attention(
        op,
        q,
        k,
        v,
        mask,
        dev,
        BankImage.for_device(dev),
        lambda sc, mk: attention_probabilities(sc, mk, scale, -1e4 if masked else None),
    )
    kk, vv = np.repeat(k, hq // hkv, axis=1), np.repeat(v, hq // hkv, axis=1)
    scores = q.astype(np.float64) @ np.swapaxes(kk, -1, -2)
    p = attention_probabilities(scores, mask, scale, -1e4 if masked else None)
    ref = p @ vv
    # FP16 scores (then softmax) and FP16 probabilities: a few FP16 ulps of the largest terms
    assert np.max(np.abs(got - ref)) < 64 * EPS16 * max(1.0, float(np.max(np.abs(vv))))


def test_attention_op_field_type() -> None:
    """lower-to-pim carries the nn.attention's scale into the pim.attention's `scale` property, which the
    emulator reads; it is not left as a discardable attribute."""
    block = Block(
        arg_types=[TensorType(f32, [1, 2, 1, 16]), TensorType(f32, [1, 2, 4, 16]), TensorType(f32, [1, 2, 4, 16])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=0.25)
    block.add_op(attn)
    lower_attention(attn, _aim(), RowAllocator(1 << 14), Rewriter())
    (op,) = block.ops
    assert isinstance(op, pim.AttentionOp)
    assert op.scale == FloatAttr(0.25, f64)
    assert "scale" not in op.attributes


@pytest.mark.parametrize(
    ("scale", "fill", "message"),
    [
        (0.0, None, "op 'attn': a PIM attention needs a finite positive scale, got 0.0"),
        (-0.25, None, "op 'attn': a PIM attention needs a finite positive scale, got -0.25"),
        (0.25, float("nan"), "op 'attn': a PIM attention's mask_fill must not be NaN or +inf, got nan"),
    ],
)
def test_lowering_rejects_a_scale_or_fill_pim_attention_cannot_hold(
    scale: float, fill: float | None, message: str
) -> None:
    """lower-to-pim names the op whose scale or mask fill value pim.attention's verifier would refuse."""
    block = Block(
        arg_types=[TensorType(f32, [1, 2, 1, 16]), TensorType(f32, [1, 2, 4, 16]), TensorType(f32, [1, 2, 4, 16])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=scale, mask_fill=fill)
    attn.attributes["name"] = StringAttr("attn")
    block.add_op(attn)
    with pytest.raises(CompileError) as info:
        lower_attention(attn, _aim(), RowAllocator(1 << 14), Rewriter())
    assert str(info.value) == message


# -- composed with the reference interpreter ----------------------------------------------------


def test_emulator_functions_compose_with_the_reference() -> None:
    """A function of nn.weight ops and a pim.gemv: the weights by the reference's functions, the macro from its
    stream by the emulator's, registered on the same interpreter."""
    rng = np.random.default_rng(3)
    op = _gemv(2, 300, 40, True)
    data = {
        "x": rng.standard_normal((2, 300)).astype(np.float32),
        "w": rng.standard_normal((300, 40)).astype(np.float32),
        "b": rng.standard_normal(40).astype(np.float32),
    }
    owners = [v.owner for v in op.operands if isinstance(v.owner, Operation)]
    fn = func.FuncOp("main", ([], [op.result.type]), Region(Block([*owners, op, func.ReturnOp(op.result)])))
    interpreter = reference_interpreter(fn, data)
    pim_functions = PimFunctions({"pim": _aim()}, lambda _: "pim")
    interpreter.register_implementations(pim_functions)
    interpreter.register_implementations(AimFunctions())
    [y] = call_function(interpreter, fn, [])
    assert pim_functions.macros == {"pim": 1}
    assert y.dtype == np.float32 and y.shape == (2, 40)
    ref = data["x"].astype(np.float64) @ data["w"] + data["b"]
    assert np.all(np.abs(y - ref) <= _bound(data["x"], data["w"], data["b"]))


def test_a_command_outside_a_macro_is_an_error() -> None:
    fn = func.FuncOp("main", ([], []), Region(Block([aim.SyncOp(), func.ReturnOp()])))
    with pytest.raises(ReferenceError, match=r"op 'aim.sync' \(aim.sync\) has no reference semantics"):
        call_function(reference_interpreter(fn, {}), fn, [])
    interpreter = reference_interpreter(fn, {})
    interpreter.register_implementations(AimFunctions())
    with pytest.raises(EmulatorError, match=r"aim\.sync runs outside the command stream of a PIM macro"):
        call_function(interpreter, fn, [])


# -- whole models against onnxruntime ------------------------------------------------------------

TOLERANCE = 2e-3  # max abs error: the fixtures' outputs are O(1); FP16 PIM results differ by ~1e-4


@pytest.mark.parametrize(
    "model,strategy",
    [
        ("examples/gpt2-tiny-decode.onnx", "optimal"),
        ("tests/models/gpt2-decode-opt.onnx", "pim-only"),
        ("tests/models/llama-decode-opt.onnx", "pim-only"),
        ("tests/models/llama-prefill-opt.onnx", "pim-only"),
    ],
)
def test_run_matches_onnxruntime(model: str, strategy: str) -> None:
    result = run_model(REPO / model, "npu-aim", strategy)
    assert result.macros.get("pim", 0) > 0, "no op ran from a command stream"
    assert result.max_error() < TOLERANCE, format_run(result)


@pytest.mark.parametrize(
    "model,system,devices",
    [
        ("tests/models/llama-decode-opt.onnx", "attacc", ["pim"]),
        ("tests/models/llama-prefill-opt.onnx", "attacc", ["pim"]),
        ("tests/models/llama-decode-opt.onnx", "papi", ["fc_pim", "attn_pim"]),
        ("tests/models/llama-prefill-opt.onnx", "papi", ["fc_pim", "attn_pim"]),
        ("examples/gpt2-tiny-decode.onnx", "papi", ["fc_pim"]),
    ],
)
def test_run_attacc_matches_onnxruntime(model: str, system: str, devices: list[str]) -> None:
    """AttAcc systems: every PIM macro runs from its attacc stream (FC on PAPI's FC-PIM, 4 vectors per MAC)."""
    result = run_model(REPO / model, system, "optimal")
    assert all(result.macros.get(d, 0) > 0 for d in devices), result.macros
    assert result.max_error() < TOLERANCE, format_run(result)


def test_run_cli_last_line_and_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pimc run` prints the error last; --inputs replays the same inputs; a bad .npz is one line."""
    import onnx

    from pimc.compiler.run import seeded_inputs

    model = REPO / "examples" / "gpt2-tiny-decode.onnx"
    assert main(["run", str(model)]) == 0
    seeded = capsys.readouterr().out.strip().splitlines()[-1]
    assert seeded.startswith("max abs error vs onnxruntime: ")
    proto = onnx.load(str(model))
    from pimc.compiler.driver import import_model

    fn = next(op for op in import_model(model).walk() if isinstance(op, func.FuncOp))
    shapes = [tuple(nn.tensor_shape(a.type)) for a in fn.body.blocks[0].args]
    np.savez(tmp_path / "in.npz", allow_pickle=True, **seeded_inputs(proto, shapes))
    assert main(["run", str(model), "--inputs", str(tmp_path / "in.npz")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == seeded
    bad = dict(seeded_inputs(proto, shapes))
    bad.pop(next(iter(bad)))
    np.savez(tmp_path / "bad.npz", allow_pickle=True, **bad)
    assert main(["run", str(model), "--inputs", str(tmp_path / "bad.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimc: error: --inputs") and "missing input" in err and "\n" not in err
    assert main(["run", str(model), "--tolerance", "1e-12"]) == 1
