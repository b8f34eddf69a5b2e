"""The shipped system and device presets: they load, and each seed system has the structure that defines it."""

from __future__ import annotations

from importlib import resources

import pytest

from pimc.targets.system import Device, System, device_preset_names, load_system, parse_system, preset_names

SYSTEMS = {
    "h100",
    "a100",
    "mi300x",
    "tpu-v4",
    "npu",
    "npu-aim",
    "neupims",
    "ianus",
    "attacc",
    "hybe",
    "papi",
    "pim-gpt",
    "groq-lpu",
    "wse-2",
    "gaudi3",
    "sn40l",
    "grayskull",
    "ipu",
    "dgx-a100",
    "dgx-h100",
    "attacc-dgx",
}
DEVICE_PRESETS = {"gddr6-aim", "hbm2-pim", "hbm3-pim", "samsung-hbm-pim"}

# What fixes a PIM device's DRAM (PimParams fields): a system may override organisation (channels, lanes, dtypes), not these.
DRAM_KEYS = (
    "isa",
    "tck_ns",
    "row_bytes",
    "column_bytes",
    "rows_per_bank",
    "mac_interval_cycles",
    "tRCD",
    "tRCD_MAC",
    "tRP",
    "tRAS",
    "tCCD_S",
    "tCCD_L",
    "tRRD",
    "tFAW",
    "tCL",
    "tREFI",
    "tRFC",
)


def _devices(system: System, kind: str) -> list[Device]:
    return [d for d in system.devices.values() if d.kind == kind]


def _one(system: System, kind: str) -> Device:
    found = _devices(system, kind)
    assert len(found) == 1, f"{system.name}: expected one {kind} device, found {[d.name for d in found]}"
    return found[0]


def _device_preset(name: str) -> Device:
    """A device preset parsed on its own, through a one-device system."""
    doc = {
        "name": f"only-{name}",
        "memories": {"m": {"capacity_gb": 1, "bandwidth_gbps": 1, "energy_pj_per_bit": 0}},
        "devices": {"d": {"preset": name, "memory": "m"}},
    }
    return parse_system(doc, f"{name}.toml").devices["d"]


def test_preset_set_is_exactly_the_seed_and_commercial_systems() -> None:
    assert set(preset_names()) == SYSTEMS
    assert set(device_preset_names()) == DEVICE_PRESETS


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_every_preset_loads_with_a_one_line_description(name: str) -> None:
    system = load_system(name)
    assert system.name == name
    assert system.description and "\n" not in system.description
    for device in system.devices.values():
        assert device.memory in system.memories


@pytest.mark.parametrize("name", sorted(DEVICE_PRESETS))
def test_device_presets_are_complete_pim_devices(name: str) -> None:
    device = _device_preset(name)
    assert device.kind == "pim"
    assert device.pim.global_buffer_bytes % device.pim.column_bytes == 0


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_every_pim_device_is_a_device_preset_or_overrides_one(name: str) -> None:
    presets = [_device_preset(p) for p in sorted(DEVICE_PRESETS)]
    for pim in _devices(load_system(name), "pim"):
        matches = [p for p in presets if all(getattr(pim.pim, k) == getattr(p.pim, k) for k in DRAM_KEYS)]
        assert matches, f"{name}: device {pim.name} matches no device preset's DRAM"


def test_hbm3_pim_internal_bandwidth_is_attaccs_16x_external() -> None:
    # AttAcc simulator: 670.4 GB/s external per stack x BW_SCALE 16 (rank x BG x bank / tCCD 2).
    pim = _device_preset("hbm3-pim")
    interval_ns = pim.pim.mac_interval_cycles * pim.pim.tck_ns
    internal_gbps = pim.pim.channels * pim.pim.banks_per_channel * pim.pim.column_bytes / interval_ns
    assert internal_gbps == pytest.approx(16 * 670.4, rel=0.01)


def test_samsung_hbm_pim_peak_matches_one_16_lane_block_per_two_banks() -> None:
    pim = _device_preset("samsung-hbm-pim")
    blocks = pim.pim.channels * pim.pim.banks_per_channel // 2
    per_block_gflops = 2 * 16 / (pim.pim.mac_interval_cycles * pim.pim.tck_ns)
    lanes_gflops = (
        2
        * pim.pim.channels
        * pim.pim.banks_per_channel
        * pim.pim.mac_lanes
        / (pim.pim.mac_interval_cycles * pim.pim.tck_ns)
    )
    assert lanes_gflops == pytest.approx(blocks * per_block_gflops)


@pytest.mark.parametrize(("name", "sharing"), [("ianus", "conflict"), ("neupims", "concurrent")])
def test_npu_and_pim_share_one_memory(name: str, sharing: str) -> None:
    system = load_system(name)
    npu, pim = _one(system, "npu"), _one(system, "pim")
    assert system.unified(npu.name, pim.name)
    assert system.memory_of(pim.name).pim_sharing == sharing
    assert not _devices(system, "gpu")


def test_papi_has_fc_pim_with_more_lanes_than_attn_pim() -> None:
    system = load_system("papi")
    pims = {d.name: d for d in _devices(system, "pim")}
    assert set(pims) == {"fc_pim", "attn_pim"}
    assert pims["fc_pim"].pim.mac_lanes > pims["attn_pim"].pim.mac_lanes
    gpu = _one(system, "gpu")
    assert system.unified(gpu.name, "fc_pim")
    assert not system.unified(gpu.name, "attn_pim")
    system.link_between(system.memory_of(gpu.name).name, system.memory_of("attn_pim").name)


def test_hybe_joins_gpu_and_npu_memories_with_a_link() -> None:
    system = load_system("hybe")
    gpu, npu = _one(system, "gpu"), _one(system, "npu")
    assert not system.unified(gpu.name, npu.name)
    link = system.link_between(gpu.memory, npu.memory)
    assert link.bandwidth_gbps < system.memory_of(npu.name).bandwidth_gbps


def test_attacc_is_a_gpu_plus_a_separate_pim_device() -> None:
    system = load_system("attacc")
    gpu, pim = _one(system, "gpu"), _one(system, "pim")
    assert pim.pim.isa == "attacc"
    assert not system.unified(gpu.name, pim.name)
    system.link_between(gpu.memory, pim.memory)


def test_pim_gpt_is_pim_only() -> None:
    system = load_system("pim-gpt")
    pim = _one(system, "pim")
    assert not _devices(system, "gpu") and not _devices(system, "npu")
    assert {d.memory for d in system.devices.values()} == {pim.memory}


def test_sn40l_streams_from_hbm_with_ddr_behind_a_link() -> None:
    system = load_system("sn40l")
    rdu = _one(system, "accelerator")
    assert system.memory_of(rdu.name).technology.startswith("HBM")
    ddr = next(m for m in system.memories.values() if m.technology.startswith("DDR"))
    assert ddr.capacity_gb > system.memory_of(rdu.name).capacity_gb
    system.link_between(rdu.memory, ddr.name)


def _head_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize(
    "path",
    [f"{n}.toml" for n in sorted(SYSTEMS)] + [f"devices/{n}.toml" for n in sorted(DEVICE_PRESETS)],
)
def test_every_preset_file_opens_with_its_sources(path: str) -> None:
    text = resources.files("pimc.targets").joinpath("presets", path).read_text()
    assert text.startswith("#"), f"{path}: must open with a comment block"
    assert "Sources" in _head_comment(text), f"{path}: head comment must list its Sources"
