"""#pim.channels: a set of PIM channels of any size, printed as ascending runs, parsed back to the same set."""

from __future__ import annotations

import itertools
import random

import pytest
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from pimc.compiler.driver import make_context
from pimc.dialects import aim, attacc
from pimc.dialects.pim import ChannelsAttr


def _parse(text: str) -> ChannelsAttr:
    attr = Parser(make_context(), text).parse_attribute()
    assert isinstance(attr, ChannelsAttr)
    return attr


@pytest.mark.parametrize("seed", range(20))
def test_any_set_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    width = rng.choice([1, 16, 32, 80, 200, 4096])
    mask = rng.getrandbits(width) | (1 << rng.randrange(width))
    attr = ChannelsAttr.of(mask)
    assert _parse(str(attr)) == attr
    runs = attr.runs()
    assert sum(1 << c for a, b in runs for c in range(a, b + 1)) == mask
    assert all(b + 1 < a2 for (_, b), (a2, _) in itertools.pairwise(runs))  # maximal runs, ascending


def test_printed_form() -> None:
    assert str(ChannelsAttr.span(0, 80)) == "#pim.channels<0-79>"
    assert str(ChannelsAttr.of(0b1011)) == "#pim.channels<0-1, 3>"
    assert str(ChannelsAttr.of(0)) == "#pim.channels<>"
    assert _parse("#pim.channels<64-79, 3, 0-2>").mask == (0xFFFF << 64) | 0xF
    with pytest.raises(ParseError, match="runs backwards"):
        _parse("#pim.channels<9-8>")
    with pytest.raises(VerifyException):
        ChannelsAttr.of(-1)


@pytest.mark.parametrize(
    "text", ["9223372036854775808", "0-9223372036854775808", "3, 65536", "65535-65536", "1" + "0" * 40]
)
def test_channel_numbers_are_bounded_at_parse_time(text: str) -> None:
    """A channel number beyond MAX_CHANNEL is a parse error at its place, never a bit mask of 2**63 bits (a
    MemoryError under stock xdsl-opt)."""
    with pytest.raises(ParseError, match="is beyond the largest channel number 65535"):
        _parse(f"#pim.channels<{text}>")
    assert _parse("#pim.channels<65535>").mask == 1 << 65535


def test_aim_keeps_its_32_channels_and_attacc_takes_any() -> None:
    """An AiM command verifies only within channels 0-31 and a shift by a repeat may not leave them; an
    AttAcc command runs on any channels (the attacc preset's 80)."""
    ok = aim.MacAbkOp(4, ChannelsAttr.span(20, 12), 0)
    ok.verify()
    assert ok.command(0, 0).channel_mask == 0xFFF << 20
    with pytest.raises(ValueError, match="leaves the 32 channels"):
        ok.command(0, 1)
    with pytest.raises(VerifyException, match="selects channel 32"):
        aim.MacAbkOp(4, ChannelsAttr.span(21, 12), 0).verify()
    wide = attacc.MacAbOp(4, 1, ChannelsAttr.span(0, 80), 0)
    wide.verify()
    assert wide.field("channel_mask") == (1 << 80) - 1
