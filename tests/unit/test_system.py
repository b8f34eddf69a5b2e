from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pimc.errors import SystemConfigError
from pimc.targets.system import Key, PimParams, load_system, param_keys, parse_system, preset_names


def test_npu_aim_preset_is_listed_and_loads() -> None:
    assert "npu-aim" in preset_names()
    system = load_system("npu-aim")
    assert {d.kind for d in system.devices.values()} == {"npu", "pim", "gpu"}
    assert system.memory_of("npu") is system.memory_of("pim")  # NPU and AiM share GDDR6
    assert system.link_between("gddr6", "hbm").bandwidth_gbps == 32


def _doc(test_system: Path) -> dict:
    return tomllib.loads(test_system.read_text())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["devices"]["pim"].pop("channels"), "t.toml: devices.pim.channels: missing"),
        (lambda d: d["devices"]["npu"].update(array_rows="big"), "devices.npu.array_rows: expected int, got 'big'"),
        (lambda d: d["devices"]["gpu"].update(peak_tflops=-1), "devices.gpu.peak_tflops: expected a table of dtype"),
        (
            lambda d: d["devices"]["gpu"]["peak_tflops"].update(fp16=0),
            "devices.gpu.peak_tflops.fp16: expected a positive",
        ),
        (lambda d: d["devices"]["gpu"]["peak_tflops"].update(fp64=1), "devices.gpu.peak_tflops.fp64: unknown dtype"),
        (
            lambda d: d["devices"]["gpu"].update(compute_efficiency=1.5),
            "devices.gpu.compute_efficiency: must be at most 1",
        ),
        (lambda d: d["devices"]["npu"].update(dataflow="rs"), "devices.npu.dataflow: 'rs' is not one of os, ws, is"),
        (lambda d: d["devices"]["pim"].pop("tRCD"), "devices.pim.tRCD: missing"),
        (lambda d: d["devices"]["pim"].update(tRFC=2000), "devices.pim.tRFC: must be shorter than tREFI"),
        (lambda d: d["devices"]["pim"].update(all_bank_act=1), "devices.pim.all_bank_act: expected bool, got 1"),
        (lambda d: d["devices"]["pim"].update(dtypes=["fp64"]), "devices.pim.dtypes: expected a list of dtypes"),
        (
            lambda d: d["devices"]["pim"].update(dtypes=["int8"]),
            "devices.pim.dtypes: PIM MAC lanes compute in fp16, bf16",
        ),
        (
            lambda d: d["devices"]["pim"].update(isa="newton", column_bytes=1),
            "devices.pim.column_bytes: must hold whole",
        ),
        (
            lambda d: d["devices"]["pim"].update(isa="newton", row_bytes=48),
            "devices.pim.row_bytes: must be whole 32-byte",
        ),
        (lambda d: d["devices"]["pim"].update(preset="hbm9"), "devices.pim.preset: unknown device preset 'hbm9'"),
        (
            lambda d: d["memories"]["dram"].update(pim_sharing="maybe"),
            "memories.dram.pim_sharing: 'maybe' is not one of",
        ),
        (lambda d: d["memories"]["dram"].pop("energy_pj_per_bit"), "memories.dram.energy_pj_per_bit: missing"),
        (lambda d: d["memories"]["dram"].update(colour=1), "memories.dram.colour: unknown key for a memory"),
        (lambda d: d["links"][0].update(speed=1), "links[0].speed: unknown key for a link"),
        (lambda d: d["devices"]["gpu"].update(memory="ssd"), "devices.gpu.memory: no memory named 'ssd'"),
        (lambda d: d["devices"]["gpu"].update(kind="fpga"), "devices.gpu.kind: unknown device kind 'fpga'"),
        (lambda d: d["devices"]["pim"].update(isa="upmem"), "devices.pim.isa: 'upmem' is not one of aim,"),
        (lambda d: d["devices"]["npu"].update(colour=1), "devices.npu.colour: unknown key for a npu device"),
        (lambda d: d["memories"]["hbm"].pop("bandwidth_gbps"), "memories.hbm.bandwidth_gbps: missing"),
        (lambda d: d["links"][0].update(between=["dram"]), "links[0].between: expected two memory names"),
        (lambda d: d.pop("devices"), "t.toml: missing or empty [devices] table"),
        (lambda d: d.pop("name"), "t.toml: name: missing"),
    ],
)
def test_invalid_system_names_the_key(test_system: Path, edit, message: str) -> None:
    doc = _doc(test_system)
    edit(doc)
    with pytest.raises(SystemConfigError) as err:
        parse_system(doc, "t.toml")
    assert message in str(err.value)


def test_device_parameters_are_read_typed_by_kind(test_system: Path) -> None:
    system = parse_system(_doc(test_system), "t.toml")
    npu, pim, gpu = system.devices["npu"], system.devices["pim"], system.devices["gpu"]
    assert pim.pim.global_buffer_bytes == 64  # the file's gb_bytes
    assert pim.pim.row_outputs == 1  # not in the file: the field's default
    assert pim.pim.tRCD_MAC == pim.pim.tRCD  # not in the file: tRCD
    assert isinstance(npu.npu.array_rows, int) and isinstance(npu.npu.clock_ghz, float)
    assert isinstance(gpu.gpu.peak_tflops["fp16"], float)
    with pytest.raises(TypeError, match="device 'npu' is of kind npu: it has no pim parameters"):
        _ = npu.pim
    with pytest.raises(TypeError, match="device 'pim' is of kind pim: it has no gpu parameters"):
        _ = pim.gpu


def test_parameter_fields_are_the_schema() -> None:
    """Each field's type, default and bounds metadata make its TOML key's check; gb_bytes names global_buffer_bytes."""
    keys = param_keys(PimParams)
    assert keys["gb_bytes"] == ("global_buffer_bytes", Key(int, maximum=2**30))
    assert keys["row_outputs"] == ("row_outputs", Key(int, default=1, maximum=2**16))
    assert keys["dtypes"] == ("dtypes", Key("dtypes", default=("fp16", "bf16")))
    assert keys["isa"][1].choices == ("aim", "hbm-pim", "attacc", "newton")
    assert "global_buffer_bytes" not in keys


def test_global_buffer_bytes_is_spelled_gb_bytes_in_a_file(test_system: Path) -> None:
    doc = _doc(test_system)
    doc["devices"]["pim"]["global_buffer_bytes"] = doc["devices"]["pim"].pop("gb_bytes")
    with pytest.raises(SystemConfigError) as err:
        parse_system(doc, "t.toml")
    assert "t.toml: devices.pim.global_buffer_bytes: unknown key for a pim device" in str(err.value)


def test_missing_link_is_reported_when_needed(test_system: Path) -> None:
    doc = _doc(test_system)
    doc["links"] = []
    system = parse_system(doc, "t.toml")
    with pytest.raises(SystemConfigError, match="no \\[\\[links\\]\\] entry joins memories 'dram' and 'hbm'"):
        system.link_between("dram", "hbm")


def test_bad_toml_syntax(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SystemConfigError, match=r"bad\.toml: invalid TOML"):
        load_system(str(bad))


def test_unknown_system_name() -> None:
    with pytest.raises(SystemConfigError, match="neither a preset"):
        load_system("no-such-system")
