"""The PIM timing model: the GEMV macro estimate equals the timing of the commands the conversions emit."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from xdsl.dialects.builtin import StringAttr, TensorType, f32
from xdsl.ir import Block

from pimc.dialects import aim, nn, pim
from pimc.dialects.pim import CommandKind, PimCommand, channel_span
from pimc.passes.convert_pim_to_aim import aim_gemv_commands
from pimc.passes.lower_to_pim import RowAllocator, gemv_layout
from pimc.targets.models.pim_timing import (
    PimCounts,
    block_commands,
    command_counts,
    gemv_counts,
    pim_peak_gflops,
    stream_counts,
)
from pimc.targets.system import device_preset_names, load_system, parse_system

TOY = Path(__file__).parents[1] / "filecheck" / "inputs" / "test-system.toml"


def _toy_pim():
    return load_system(str(TOY)).devices["pim"]


def _preset_device(name: str):
    """A PIM device preset as a device of a minimal system (its timing and energy, unchanged)."""
    doc = {
        "name": f"only-{name}",
        "memories": {"m": {"capacity_gb": 64, "bandwidth_gbps": 1000, "energy_pj_per_bit": 1}},
        "devices": {"pim": {"preset": name, "memory": "m", "rows_per_bank": 1 << 20}},
    }
    return parse_system(doc, f"{name}.toml").devices["pim"]


def _emitted_counts(m: int, k: int, n: int, dev, bias: bool) -> PimCounts:
    """Lower a GEMV the way lower-to-pim does, emit its AiM commands, and time each emitted op."""
    x = nn.WeightOp("x", TensorType(f32, [m, k]))
    w = nn.WeightOp("w", TensorType(f32, [k, n]))
    b = nn.WeightOp("b", TensorType(f32, [n])) if bias else None
    layout = gemv_layout(k, n, dev, RowAllocator(dev.pim.rows_per_bank), "w", False, "test")
    op = pim.GemvOp(x.result, w.result, b.result if b else None, TensorType(f32, [m, n]), layout)
    cmds = aim_gemv_commands(op, dev)
    assert all(isinstance(c, aim.AimCommandOp | pim.RepeatOp) for c in cmds)
    return stream_counts(block_commands(Block(cmds)), dev)


def test_toy_gemv_by_hand() -> None:
    """K = 64 (2 row tiles of 2 columns), N = 4 (one pass over 2 channels x 2 banks), one input row.

    WR_GB 2 (2 cycles) + MAC_ABK 2 (max(tRCD_MAC 2 + 2, tRAS 3) + tRP 1 = 5), twice, + RD_MAC (tCL 1 +
    tCCD_L 1 = 2) = 16 cycles; x tREFI / (tREFI - tRFC) = 1000/999 at 1 ns.
    """
    dev = _toy_pim()
    c = gemv_counts(1, 64, 4, dev)
    assert c.cycles == 16
    assert c.commands == {"WR_GB": 2, "MAC_ABK": 2, "RD_MAC": 1, "SYNC": 1}
    assert c.time_ns(dev) == pytest.approx(16 * 1000 / 999)
    # io: 2 WR_GB x 2 ch x 2 cols x 256 bit + RD_MAC 2 ch x 256; act: 2 x 2 ch x 2 banks x 512 bit;
    # read: 2 x 2 x 2 x 2 cols x 256; MACs: 2 x 2 x 2 x 2 cols x 16 lanes
    assert (c.io_bits, c.act_bits, c.read_bits, c.macs) == (2560, 4096, 4096, 256)
    assert c.energy_pj(dev) == pytest.approx(2560 + 4096 + 4096 + 256)


SHAPES = [
    (1, 64, 4, False),
    (1, 100, 7, True),
    (3, 33, 9, False),
    (2, 4096, 4096, False),
    (1, 4096, 11008, True),
    (1, 11008, 4096, False),
    (4, 768, 2304, True),
    (1, 5, 1, False),
]


@pytest.mark.parametrize("preset", ["toy", *device_preset_names()])
@pytest.mark.parametrize(("m", "k", "n", "bias"), SHAPES)
def test_macro_estimate_equals_emitted_commands(preset: str, m: int, k: int, n: int, bias: bool) -> None:
    dev = _toy_pim() if preset == "toy" else _preset_device(preset)
    if preset == "toy" and k * n > 64 * 64:
        pytest.skip("the toy PIM holds only tiny weights")
    estimate = gemv_counts(m, k, n, dev, bias)
    emitted = _emitted_counts(m, k, n, dev, bias)
    assert estimate == emitted
    assert estimate.time_ns(dev) == emitted.time_ns(dev)
    assert estimate.energy_pj(dev) == emitted.energy_pj(dev)


def test_gemv_time_is_bounded_by_peak_and_grows_with_activations() -> None:
    """No GEMV beats the MAC peak; per-row ACT/PRE overhead makes it slower than peak."""
    dev = _preset_device("gddr6-aim")
    c = gemv_counts(1, 4096, 4096, dev)
    assert c.time_ns(dev) > 2 * 4096 * 4096 / pim_peak_gflops(dev)
    assert c.commands["MAC_ABK"] == 4096 * 4096 // (32 * 16 * 1024)  # rows of 1024 FP16 per bank
    slow = replace(dev, params=replace(dev.pim, all_bank_act=False))
    assert gemv_counts(1, 4096, 4096, slow).cycles > c.cycles


def test_single_bank_activation_follows_trrd_and_tfaw() -> None:
    dev = _preset_device("gddr6-aim")
    slow = replace(dev, params=replace(dev.pim, all_bank_act=False))
    fast = command_counts(PimCommand(CommandKind.MAC_ABK, 64, 0b1), dev).cycles
    # 16 banks: max(15 * tRRD 11, 3 * tFAW 42) = 165 cycles before the last bank opens
    assert command_counts(PimCommand(CommandKind.MAC_ABK, 64, 0b1), slow).cycles == fast + 165


def test_unknown_command_is_refused() -> None:
    with pytest.raises(ValueError, match="no timing for PIM command 'EOC'"):
        command_counts(PimCommand(CommandKind.EOC), _toy_pim())


AttentionDims = tuple[int, int, int, int, int, int, int]
"""(B, Hq, Hkv, S, T, D, Dv), as nn.AttentionOp.dims()."""
ATTENTION: list[AttentionDims] = [
    (1, 4, 4, 1, 16, 16, 16),
    (1, 32, 32, 1, 512, 128, 128),
    (1, 8, 2, 1, 100, 64, 64),
    (2, 4, 4, 3, 33, 16, 16),
]


def _generic_attention_stream(dims: AttentionDims, dev):
    """The all-bank command stream of attention under `attention_mapping`, rows left out (timing
    ignores them): head h on channels (h % groups) * head_channels ..., score then context GEMV."""
    from pimc.targets.models.pim_timing import attention_mapping, gemv_commands, head_slot

    b, hq, hkv, s, t, d, dv = dims
    mapping = attention_mapping(*dims, dev)
    col = dev.pim.column_bytes
    for h in range(b * hkv):
        first, _ = head_slot(h, mapping.head_channels, dev.pim.channels)
        for k, n, geo in ((d, t, mapping.k), (t, dv, mapping.v)):
            for _, cmd in gemv_commands(hq // hkv * s, k, n, geo, False, col, sync=False):
                yield replace(cmd.shifted(0, first), row=None)
    yield PimCommand(CommandKind.SYNC)


@pytest.mark.parametrize("preset", ["gddr6-aim", "hbm3-pim", "samsung-hbm-pim"])
@pytest.mark.parametrize("dims", ATTENTION)
def test_attention_estimate_equals_emitted_commands(preset: str, dims: AttentionDims) -> None:
    """Lower nn.attention the way lower-to-pim does (heads over channel groups), time every command
    of its stream on per-channel timelines: equal to the closed form. AiM devices emit ISR ops."""
    from xdsl.rewriter import Rewriter

    from pimc.passes.convert_pim_to_aim import aim_attention_commands
    from pimc.passes.lower_to_pim import lower_attention
    from pimc.targets.models.pim_timing import attention_counts, attention_mapping

    b, hq, hkv, s, t, d, dv = dims
    dev = _preset_device(preset)
    block = Block(
        arg_types=[TensorType(f32, [b, hq, s, d]), TensorType(f32, [b, hkv, t, d]), TensorType(f32, [b, hkv, t, dv])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=d**-0.5)
    block.add_op(attn)
    lower_attention(attn, dev, RowAllocator(dev.pim.rows_per_bank), Rewriter())
    (lowered,) = block.ops
    assert isinstance(lowered, pim.AttentionOp)
    estimate = attention_counts(*dims, dev)
    generic = list(_generic_attention_stream(dims, dev))
    if dev.pim.isa == "aim":
        # AiM's timing reads rows (a MAC_ABK on the row its channel holds open is a row hit): the emitted
        # stream, rows and all, is timed; without its rows it is the generic stream
        emitted = list(block_commands(Block(aim_attention_commands(lowered, dev))))
        assert stream_counts(emitted, dev) == estimate
        assert [replace(c, row=None) for c in emitted] == generic
    elif dev.pim.isa == "attacc":
        # AttAcc's controller reads rows too, and the stream holds the softmax (SFM, then MV_GB for WR_GB)
        from pimc.passes.convert_pim_to_attacc import attacc_commands

        emitted = list(block_commands(Block(attacc_commands(lowered, dev))))
        timed = stream_counts(emitted, dev)
        assert timed.cycles == estimate.cycles
        assert timed.energy_pj(dev) == pytest.approx(estimate.energy_pj(dev), rel=1e-12)
        softmax_free = [
            replace(c, row=None, kind=CommandKind.WR_GB if c.kind == CommandKind.MV_GB else c.kind)
            for c in emitted
            if c.kind != CommandKind.SFM
        ]
        assert softmax_free == generic
    else:
        assert stream_counts(generic, dev) == estimate
    # every head's score GEMV has G * S rows against T outputs; its context GEMV has Dv outputs
    assert estimate.macs >= 2 * b * hq * s * t * d // 2
    mapping = attention_mapping(*dims, dev)
    assert lowered.head_channels.value.data == mapping.head_channels
    if dev.pim.blocking_reads:
        # AiM: every head ends with a blocking RD_MAC, so the heads run one after another
        assert estimate.cycles >= mapping.heads * (mapping.head.cycles - dev.pim.tMOD)
        return
    if dev.pim.isa == "attacc":
        # AttAcc: a channel group's heads run wave after wave; a wave takes at least its slowest head's MACs
        assert estimate.cycles >= mapping.waves * (mapping.head.cycles // 2)
        return
    # the groups run side by side: the op takes one head's time per wave, not per head
    assert estimate.cycles == mapping.waves * mapping.head.cycles
    if b * hkv > 1 and mapping.groups > 1:
        assert estimate.cycles < b * hkv * mapping.head.cycles


def test_disjoint_channels_overlap_and_sync_waits() -> None:
    """Two commands on disjoint channel masks run side by side; on a shared channel they queue;
    SYNC makes every channel wait for the slowest."""
    dev = _toy_pim()
    mac = command_counts(PimCommand(CommandKind.MAC_ABK, 2, 0b01), dev).cycles
    side = stream_counts([PimCommand(CommandKind.MAC_ABK, 2, 0b01), PimCommand(CommandKind.MAC_ABK, 2, 0b10)], dev)
    assert side.cycles == mac
    queued = stream_counts([PimCommand(CommandKind.MAC_ABK, 2, 0b11), PimCommand(CommandKind.MAC_ABK, 2, 0b10)], dev)
    assert queued.cycles == 2 * mac
    synced = stream_counts(
        [
            PimCommand(CommandKind.MAC_ABK, 2, 0b01),
            PimCommand(CommandKind.SYNC),
            PimCommand(CommandKind.MAC_ABK, 2, 0b10),
        ],
        dev,
    )
    assert synced.cycles == 2 * mac
    # overlapping in time does not change the energy: both commands open their rows
    assert side.act_bits == 2 * command_counts(PimCommand(CommandKind.MAC_ABK, 2, 0b01), dev).act_bits


def test_packed_keys_cut_rows_and_time() -> None:
    """hbm3-pim (AttAcc) keeps 16 results per bank: a D = 128 score GEMV packs 4 keys in a 1 KB row,
    so it opens a quarter of the rows and needs a quarter of the passes of a 1-register bank."""
    from pimc.targets.models.pim_timing import gemv_geometry

    dev = _preset_device("hbm3-pim")
    one = replace(dev, params=replace(dev.pim, row_outputs=1))
    packed, single = gemv_geometry(128, 4096, dev), gemv_geometry(128, 4096, one)
    assert (packed.per_row, single.per_row) == (4, 1)
    assert single.passes(4096) == 4 * packed.passes(4096)
    a, b = gemv_counts(1, 128, 4096, dev), gemv_counts(1, 128, 4096, one)
    assert a.macs == b.macs and a.read_bits == b.read_bits
    assert a.act_bits * 4 == b.act_bits
    assert a.cycles < b.cycles
    # a long K (one output per row) is unchanged
    assert gemv_counts(1, 4096, 4096, dev) == gemv_counts(1, 4096, 4096, one)


@pytest.mark.parametrize(
    ("m", "k", "n", "bias"),
    [(1, 4096, 4096, False), (4, 4096, 4096, True), (7, 1000, 300, False), (16, 11008, 4096, True)],
)
def test_lanes_beyond_a_column_serve_more_input_vectors(m: int, k: int, n: int, bias: bool) -> None:
    """PAPI's FC-PIM: 64 lanes over 16-element columns MAC 4 input vectors per column read.

    The closed form equals the all-bank sequence it describes (AiM cannot emit it: 16 lanes),
    and batching rows cuts the row activations 4-fold against 16 lanes.
    """
    from pimc.targets.models.pim_timing import gemv_commands, gemv_geometry

    papi = load_system("papi")
    fc, attn = papi.devices["fc_pim"], papi.devices["attn_pim"]
    geo = gemv_geometry(k, n, fc)
    assert geo.vectors == 4
    seq = gemv_commands(m, k, n, geo, bias and fc.pim.bias_preload, fc.pim.column_bytes)
    stream = stream_counts((cmd for _, cmd in seq), fc)
    estimate = gemv_counts(m, k, n, fc, bias)
    assert estimate == stream
    one_vector = replace(fc, params=replace(fc.pim, mac_lanes=16))
    single = gemv_counts(m, k, n, one_vector, bias)
    assert estimate.macs == single.macs
    # rows open once per group of 4 vectors instead of once per vector
    assert estimate.act_bits * m == single.act_bits * -(-m // 4)
    if m >= 4:
        assert estimate.cycles < single.cycles
    assert pim_peak_gflops(fc) == 4 * pim_peak_gflops(one_vector)
    assert gemv_geometry(k, n, attn).vectors == 1


def _papi(name: str):
    return load_system("papi").devices[name]


def _attacc_gemv(m: int, k: int, n: int, dev, bias: bool) -> tuple[pim.GemvOp, list]:
    """A GEMV lowered the way lower-to-pim does, with the AttAcc commands convert-pim-to-attacc gives it."""
    from pimc.passes.convert_pim_to_attacc import attacc_ops
    from pimc.passes.pim_commands import gemv_macro_items

    x = nn.WeightOp("x", TensorType(f32, [m, k]))
    w = nn.WeightOp("w", TensorType(f32, [k, n]))
    b = nn.WeightOp("b", TensorType(f32, [n])) if bias else None
    layout = gemv_layout(k, n, dev, RowAllocator(dev.pim.rows_per_bank), "w", False, "test")
    op = pim.GemvOp(x.result, w.result, b.result if b else None, TensorType(f32, [m, n]), layout)
    return op, attacc_ops(gemv_macro_items(op, dev))


ATTACC_SHAPES = [
    (1, 4096, 4096, False),
    (2, 4096, 4096, True),
    (4, 4096, 11008, False),
    (5, 11008, 4096, True),
    (7, 1000, 300, False),
    (16, 128, 512, False),
    (3, 40, 5000, True),
    (9, 300, 17, False),
]


@pytest.mark.parametrize("device", ["papi:fc_pim", "papi:attn_pim", "hbm3-pim"])
@pytest.mark.parametrize(("m", "k", "n", "bias"), ATTACC_SHAPES)
def test_attacc_estimate_equals_emitted_commands(device: str, m: int, k: int, n: int, bias: bool) -> None:
    """The AttAcc commands of a GEMV, timed command by command, equal its closed-form estimate; on PAPI's
    FC-PIM (64 lanes over 16-element columns) every MAC and global-buffer write serves up to 4 input
    vectors, as the estimate counts them."""
    from pimc.dialects import attacc
    from pimc.targets.models.pim_timing import block_commands, gemv_geometry

    dev = _papi(device.split(":")[1]) if device.startswith("papi") else _preset_device(device)
    _, cmds = _attacc_gemv(m, k, n, dev, bias)
    assert all(isinstance(c, attacc.AttaccCommandOp | pim.RepeatOp) for c in cmds)
    block = Block(cmds)
    emitted = stream_counts(block_commands(block), dev)
    estimate = gemv_counts(m, k, n, dev, bias)
    assert emitted == estimate
    assert emitted.time_ns(dev) == estimate.time_ns(dev)
    assert emitted.energy_pj(dev) == estimate.energy_pj(dev)
    geo = gemv_geometry(k, n, dev)
    served = {c.vectors.value.data for c in block.walk() if isinstance(c, attacc.MacAbOp)}
    written = {c.vectors.value.data for c in block.walk() if isinstance(c, attacc.WrGbOp)}
    expected = {geo.vectors} if m % geo.vectors == 0 else {geo.vectors, m % geo.vectors} if m > geo.vectors else {m}
    assert served == written == expected
    assert geo.vectors == (4 if device == "papi:fc_pim" else 1)
    # a row opens once per group of input vectors, not once per vector
    assert emitted.commands["MAC_ABK"] == -(-m // geo.vectors) * geo.passes(n) * geo.k_tiles(k)
    assert estimate.macs >= m * k * n  # every input row meets every weight (padding MACs zeros)


@pytest.mark.parametrize("device", ["papi:fc_pim", "papi:attn_pim"])
@pytest.mark.parametrize("dims", [(1, 32, 32, 1, 512, 128, 128), (1, 8, 2, 3, 100, 64, 64), (4, 4, 4, 5, 33, 16, 16)])
def test_attacc_attention_estimate_equals_emitted_commands(device: str, dims: AttentionDims) -> None:
    """Attention on PAPI's PIM devices (80 channels, heads over channel groups, softmax in the buffer die):
    the emitted AttAcc stream times to the closed form, several query rows per MAC on FC-PIM."""
    from xdsl.rewriter import Rewriter

    from pimc.dialects import attacc
    from pimc.passes.convert_pim_to_attacc import attacc_ops
    from pimc.passes.lower_to_pim import lower_attention
    from pimc.passes.pim_commands import attention_items
    from pimc.targets.models.pim_timing import attention_counts, block_commands

    b, hq, hkv, s, t, d, dv = dims
    dev = _papi(device.split(":")[1])
    block = Block(
        arg_types=[TensorType(f32, [b, hq, s, d]), TensorType(f32, [b, hkv, t, d]), TensorType(f32, [b, hkv, t, dv])]
    )
    q, k, v = block.args
    attn = nn.AttentionOp(q, k, v, None, scale=d**-0.5)
    block.add_op(attn)
    lower_attention(attn, dev, RowAllocator(dev.pim.rows_per_bank), Rewriter())
    (lowered,) = block.ops
    assert isinstance(lowered, pim.AttentionOp)
    commands = Block(attacc_ops(attention_items(lowered, dev, softmax_on_device=True)))
    emitted, estimate = stream_counts(block_commands(commands), dev), attention_counts(*dims, dev)
    assert emitted.commands.pop("SFM") == b * hkv  # one buffer-die softmax per head, not timed
    # the context GEMV's input comes from the softmax unit (MV_GB), timed as the host's WR_GB the closed form counts
    assert emitted.commands["MV_GB"] > 0
    emitted.commands["WR_GB"] += emitted.commands.pop("MV_GB")
    assert emitted == estimate
    served = max(c.vectors.value.data for c in commands.walk() if isinstance(c, attacc.MacAbOp))
    assert served == (min(4, hq // hkv * s) if device == "papi:fc_pim" else 1)


@pytest.mark.parametrize(("past", "alike"), [("31", True), ("600", False)])
def test_kv_cache_rows_shared_across_phases_only_when_laid_out_alike(past: str, alike: bool) -> None:
    """pim-only on attacc puts prefill's and decode's attention on PIM. Where both lay the cache out
    identically (prompt 32 and decode at 31 + 1 positions) they share its rows; where decode reads
    601 positions, it gets rows of its own. Either way no two caches overlap."""
    from pimc.compiler.driver import compile_model
    from pimc.targets.models.pim_timing import attention_mapping

    dims = {
        "layers": "2",
        "hidden": "256",
        "heads": "4",
        "kv_heads": "4",
        "ffn": "512",
        "vocab": "1000",
        "seq": "32",
        "past": past,
    }
    module = compile_model(
        Path(__file__).parents[2] / "examples" / "llama2-7b.pim",
        system="attacc",
        strategy="pim-only",
        dims=dims,
        baselines=False,
    ).module
    dev = load_system("attacc").devices["pim"]
    spans = {}
    for op in module.walk():
        if isinstance(op, pim.AttentionOp):
            mapping = attention_mapping(*op.dims(), dev)
            k_rows, v_rows = mapping.head_rows(op.dims()[4], op.dims()[5], op.dims()[6])
            name, phase = op.attributes["name"], op.attributes["phase"]
            assert isinstance(name, StringAttr) and isinstance(phase, StringAttr)
            spans[(name.data, phase.data)] = (
                (op.k_layout.row_base.value.data, mapping.waves * k_rows),
                (op.v_layout.row_base.value.data, mapping.waves * v_rows),
            )
    pre, dec = spans[("layers.0.attn", "prefill")], spans[("layers.0.attn", "decode")]
    assert (pre == dec) == alike
    extent: dict[int, int] = {}  # a shared cache: one base and extent
    for k, v in spans.values():
        for base, n in (k, v):
            assert extent.get(base, n) == n
            extent[base] = n
    ranges = sorted(extent.items())
    for (a, n), (b, _) in itertools.pairwise(ranges):
        assert a + n <= b, ranges


def test_unnamed_attention_ops_get_their_own_cache_rows() -> None:
    """Two attention ops without names over different caches must not share rows."""
    from xdsl.rewriter import Rewriter

    from pimc.passes.lower_to_pim import lower_attention

    dev = _preset_device("hbm3-pim")
    shapes = [TensorType(f32, [1, 2, 1, 16]), TensorType(f32, [1, 2, 8, 16]), TensorType(f32, [1, 2, 8, 16])]
    block = Block(arg_types=shapes * 2)
    q1, k1, v1, q2, k2, v2 = block.args
    a1 = nn.AttentionOp(q1, k1, v1, None, scale=0.25)
    a2 = nn.AttentionOp(q2, k2, v2, None, scale=0.25)
    block.add_ops([a1, a2])
    rows = RowAllocator(dev.pim.rows_per_bank)
    lower_attention(a1, dev, rows, Rewriter())
    lower_attention(a2, dev, rows, Rewriter())
    first, second = block.ops
    assert isinstance(first, pim.AttentionOp) and isinstance(second, pim.AttentionOp)
    assert first.k_layout.row_base.value.data != second.k_layout.row_base.value.data
    assert first.v_layout.row_base.value.data != second.v_layout.row_base.value.data


# -- closed-form GEMV counts: equal to the per-pass / per-tile enumeration they replaced ------------------------


def _gemv_counts_enumerated(
    m: int, k: int, n: int, dev, bias: bool = False, sync: bool = True, max_channels: int | None = None
) -> PimCounts:
    """gemv_counts as it was before it became closed-form: one list entry per pass over the banks and per row
    tile of K (linear in N and K, so in the KV cache length of attention). The reference the closed form must
    equal exactly."""
    from pimc.dialects.pim import PIM_ELEMENT_BYTES, ceil_div
    from pimc.targets.models.pim_timing import _scaled, gemv_commands, gemv_geometry

    geo = gemv_geometry(k, n, dev, max_channels)
    bias = bias and dev.pim.bias_preload
    passes, k_tiles = geo.passes(n), geo.k_tiles(k)
    per_pass = geo.channels * geo.banks * geo.per_row
    full_passes, rest = divmod(n, per_pass)
    shapes = [geo.pass_shape(per_pass)] * full_passes + ([geo.pass_shape(rest)] if rest else [])
    column_bytes = dev.pim.column_bytes
    tiles = [ceil_div(min(geo.k_tile, k - t * geo.k_tile) * PIM_ELEMENT_BYTES, column_bytes) for t in range(k_tiles)]
    distinct_tiles = {cols: tiles.count(cols) for cols in set(tiles)}
    wr_gb_passes = passes if k_tiles > 1 else 1

    def group(v: int) -> PimCounts:
        c = PimCounts()
        for a, outs in set(shapes):
            times = shapes.count((a, outs))
            for cols, n_tiles in distinct_tiles.items():
                mac = PimCommand(CommandKind.MAC_ABK, cols * outs, channel_span(0, a), v)
                c.add(_scaled(command_counts(mac, dev), times * n_tiles))
            c.add(_scaled(command_counts(PimCommand(CommandKind.RD_MAC, 0, channel_span(0, a), v * outs), dev), times))
            if bias:
                c.add(
                    _scaled(
                        command_counts(PimCommand(CommandKind.WR_BIAS, 0, channel_span(0, a), v * outs), dev), times
                    )
                )
        for cols, n_tiles in distinct_tiles.items():
            write = PimCommand(CommandKind.WR_GB, cols * v, channel_span(0, geo.channels), v)
            c.add(_scaled(command_counts(write, dev), wr_gb_passes * n_tiles))
        return c

    full_groups, last = divmod(m, geo.vectors)
    total = _scaled(group(geo.vectors), full_groups)
    if last:
        total.add(group(last))
    if sync:
        total.add(command_counts(PimCommand(CommandKind.SYNC), dev))
    if dev.pim.blocking_reads or dev.pim.isa == "attacc":  # AiM, AttAcc: the cycles of the command stream
        total.cycles = stream_counts(
            [c for _, c in gemv_commands(m, k, n, geo, bias, dev.pim.column_bytes, sync)], dev
        ).cycles
    return total


def _attention_mapping_enumerated(b: int, hq: int, hkv: int, s: int, t: int, d: int, dv: int, dev):
    """attention_mapping over `_gemv_counts_enumerated` (the search as it was)."""
    from pimc.targets.models.pim_timing import (
        AttentionMapping,
        _aim_attention_cycles,
        _attacc_attention_cycles,
        gemv_geometry,
    )

    heads, rows, channels = b * hkv, hq // hkv * s, dev.pim.channels
    best = None
    for c in sorted({1 << i for i in range(channels.bit_length()) if 1 << i <= channels} | {channels}):
        head = _gemv_counts_enumerated(rows, d, t, dev, sync=False, max_channels=c)
        head.add(_gemv_counts_enumerated(rows, t, dv, dev, sync=False, max_channels=c))
        mapping = AttentionMapping(
            heads, c, channels // c, gemv_geometry(d, t, dev, c), gemv_geometry(t, dv, dev, c), head
        )
        # AiM: the heads run one after another (its closed form equals the emitted stream: tested above)
        cycles = _aim_attention_cycles(rows, d, t, dv, mapping, dev) if dev.pim.blocking_reads else None
        if dev.pim.isa == "attacc":  # AttAcc: the controller model of the emitted stream (tested above)
            cycles = _attacc_attention_cycles(rows, d, t, dv, mapping, dev)
        key = (mapping.waves * head.cycles if cycles is None else cycles, head.energy_pj(dev), c)
        if best is None or key < best[0]:
            best = (key, mapping)
    assert best is not None
    return best[1]


def _pim_devices():
    """Every PIM device of the system presets (AiM, AttAcc's HBM3-PIM, NeuPIMs, PAPI's 64- and 8-lane PIMs, ...),
    of the device presets, and the toy device."""
    from pimc.targets.system import preset_names

    out = [(f"{s}.{d.name}", d) for s in preset_names() for d in load_system(s).devices.values() if d.kind == "pim"]
    out += [(n, _preset_device(n)) for n in device_preset_names()]
    out.append(("toy", _toy_pim()))
    seen: set[str] = set()
    unique = []
    for name, dev in out:  # presets that repeat another's device (a DGX variant, a shared AiM) are checked once
        key = repr(replace(dev, name=""))
        if key not in seen:
            seen.add(key)
            unique.append((name, dev))
    return unique


MAX_ATTACC_LINES = 4000
"""The most MAC lines per channel (vectors x row tiles x passes) of an AttAcc GEMV the enumeration checks."""


def test_closed_form_gemv_counts_equal_the_enumeration() -> None:
    """Every PIM device preset and the toy device, shapes around the tile and pass boundaries (K and N at
    multiples of the row tile and of a pass's outputs, +-1), with and without bias and a channel limit."""
    import random

    rnd = random.Random(1234)
    checked = 0
    for name, dev in _pim_devices():
        k_tile = min(dev.pim.row_bytes, dev.pim.global_buffer_bytes) // 2
        per_pass = dev.pim.channels * dev.pim.banks_per_channel
        ks = {1, 2, 7, k_tile - 1, k_tile, k_tile + 1, 3 * k_tile, 3 * k_tile + 5, rnd.randrange(1, 40 * k_tile)}
        ns = {1, 3, per_pass - 1, per_pass, per_pass + 1, 5 * per_pass + 7, rnd.randrange(1, 30 * per_pass)}

        def per_channel(limit: int | None, dev=dev) -> int:
            return min(limit or dev.pim.channels, dev.pim.channels) * dev.pim.banks_per_channel

        for k in sorted(ks):
            for n in sorted(ns):
                m = rnd.choice([1, 1, 2, 3, 8, 33])
                bias = rnd.random() < 0.5
                limit = rnd.choice([None, 1, 2, 3, dev.pim.channels])
                if dev.pim.isa == "attacc" and m * -(-k // k_tile) * -(-n // per_channel(limit)) > MAX_ATTACC_LINES:
                    continue  # the enumeration runs the controller model line by line: too slow for the suite
                assert gemv_counts(m, k, n, dev, bias, True, limit) == _gemv_counts_enumerated(
                    m, k, n, dev, bias, True, limit
                ), (name, m, k, n, bias, limit)
                checked += 1
    assert checked > 200


def test_attention_mapping_equals_the_enumerated_search() -> None:
    """The mapping attention_mapping picks (channels per head, geometries and one head's counts) equals the
    search over the enumerated counts, for many attention shapes on every PIM device preset."""
    import random

    from pimc.targets.models.pim_timing import attention_counts, attention_mapping

    rnd = random.Random(99)
    shapes = [(1, 32, 32, 1, 512, 128, 128), (4, 8, 2, 1, 1000, 64, 64), (1, 4, 4, 32, 32, 16, 16)]
    for _ in range(24):
        hkv = rnd.choice([1, 2, 4, 8])
        shapes.append(
            (
                rnd.choice([1, 2, 3, 16]),
                hkv * rnd.choice([1, 2, 4]),
                hkv,
                rnd.choice([1, 1, 2, 4, 17]),
                rnd.choice([1, 2, 63, 64, 65, 511, 512, 513, 4095, rnd.randrange(1, 20000)]),
                rnd.choice([16, 64, 80, 128]),
                rnd.choice([16, 64, 128]),
            )
        )
    for name, dev in _pim_devices():
        for shape in shapes:
            assert attention_mapping(*shape, dev) == _attention_mapping_enumerated(*shape, dev), (name, shape)
        assert attention_counts(*shapes[0], dev).cycles > 0


def test_gemv_counts_are_closed_form_in_k_and_n() -> None:
    """A GEMV over 10^15 outputs and a K of 10^15 elements (a KV cache no memory holds) is counted at once: the
    counts are those of one pass / one row tile scaled exactly (the enumeration would need a list entry per
    pass and per tile)."""
    dev = _preset_device("gddr6-aim")
    k_tile = min(dev.pim.row_bytes, dev.pim.global_buffer_bytes) // 2
    per_pass = dev.pim.channels * dev.pim.banks_per_channel
    q = 10**15 // per_pass
    one, many = gemv_counts(1, 64, per_pass, dev, sync=False), gemv_counts(1, 64, q * per_pass, dev, sync=False)
    assert many.macs == q * one.macs and many.commands["MAC_ABK"] == q * one.commands["MAC_ABK"]
    tiles = 10**15 // k_tile
    wide = gemv_counts(1, tiles * k_tile, 16, dev, sync=False)
    assert wide.commands["MAC_ABK"] == tiles and wide.commands["WR_GB"] == tiles
