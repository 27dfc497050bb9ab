"""Board descriptors: every board loads with all sections, and broken ones are named precisely."""
import json
import shutil

import pytest

import edge.boards as boards
from edge.boards import BoardError, board_names, load_board
from edge.cli import main

ALL = ["generic-aarch64", "host", "rpi3", "rpi3-armv7", "rpi4", "rpi5", "rpizero2w",
       "rpizero2w-armv7"]


def _copy(tmp_path, name="rpi4", edit=None):
    """boards/<name>.toml copied into tmp_path, its text passed through edit."""
    text = (boards.BOARDS_DIR / f"{name}.toml").read_text()
    (tmp_path / f"{name}.toml").write_text(edit(text) if edit else text)
    return tmp_path


def test_every_board_of_the_issue_has_a_descriptor():
    assert board_names() == ALL


@pytest.mark.parametrize("name", ALL)
def test_every_descriptor_loads_with_audio_telemetry_and_deploy(name):
    b = load_board(name)
    assert 0 <= b.audio.capture_channel < b.audio.channels and 2 <= b.audio.periods
    assert b.telemetry.power in ("pmic", "hwmon", "rapl", "none")
    assert b.deploy.prefix.startswith("/") and b.deploy.service


def test_only_rpi5_reads_power_from_the_pmic_and_pis_have_vcgencmd():
    pmic = [n for n in ALL if load_board(n).telemetry.power == "pmic"]
    assert pmic == ["rpi5"]
    assert all(load_board(n).telemetry.vcgencmd for n in ALL if n.startswith("rpi"))
    assert not load_board("host").telemetry.vcgencmd
    assert load_board("host").telemetry.power == "rapl"


def test_32bit_os_variants_are_armv7_and_their_64bit_twins_aarch64():
    assert load_board("rpi3-armv7").arch == "armv7l" and load_board("rpi3").arch == "aarch64"
    assert load_board("rpizero2w-armv7").arch == "armv7l"


def test_every_arm_board_has_estimate_figures_with_sources():
    for name in ALL:
        b = load_board(name)
        if b.arch in ("aarch64", "armv7l"):
            e = b.estimate
            assert e and e.mca_cpu and e.clock_ghz and e.dram_read_gbps and e.sources, name
    assert load_board("host").estimate.clock_ghz is None  # read from /proc/cpuinfo
    assert load_board("rpi5").estimate.cache_bytes > 1 << 20  # its L3 holds the small network


def test_board_without_estimate_section_loads_without_one(tmp_path):
    d = _copy(tmp_path, edit=lambda t: t[:t.index("[estimate]")])
    assert load_board("rpi4", d).estimate is None


def test_missing_field_names_the_file_and_the_field(tmp_path):
    d = _copy(tmp_path, edit=lambda t: t.replace('power = "none"\n', ""))
    with pytest.raises(BoardError, match=r"rpi4\.toml: missing field \[telemetry\]\.power"):
        load_board("rpi4", d)


def test_missing_section_is_named(tmp_path):
    d = _copy(tmp_path, edit=lambda t: t[:t.index("[deploy]")])
    with pytest.raises(BoardError, match=r"rpi4\.toml: missing section \[deploy\]"):
        load_board("rpi4", d)


def test_misspelt_field_is_refused_not_ignored(tmp_path):
    d = _copy(tmp_path, edit=lambda t: t.replace("periods = 3", "perods = 3"))
    with pytest.raises(BoardError, match=r"unknown field \[audio\]\.perods"):
        load_board("rpi4", d)


@pytest.mark.parametrize("old,new,field", [
    # the kernel's rate and hop are its own, not a board's: no field says them
    ("periods = 3", "periods = 3\nrate = 48000", r"unknown field \[audio\]\.rate"),
    ("periods = 3", "periods = 3\nperiod_frames = 480", r"unknown field \[audio\]\.period_frames"),
    ("channels = 1", 'channels = "1"', r"\[audio\]\.channels must be an integer"),
    ("capture_channel = 0", "capture_channel = 1", r"\[audio\]\.capture_channel must be between"),
    ('power = "none"', 'power = "ina219"', r"\[telemetry\]\.power must be one of"),
    ("vcgencmd = true", "vcgencmd = 1", r"\[telemetry\]\.vcgencmd must be true or false"),
    ('prefix = "/opt/percepnet-edge"', 'prefix = "opt"', r"\[deploy\]\.prefix must be an absolute"),
    ('simd = ["neon"]', 'simd = ["sse9"]', r"\[cpu\]\.simd has unknown ISA 'sse9'"),
    ("clock_ghz = 1.5", "clock_ghz = 0", r"\[estimate\]\.clock_ghz must be between 0 and 10"),
    ("dram_read_gbps = 3.5", 'dram_read_gbps = "fast"', r"\[estimate\]\.dram_read_gbps must be"),
    ('mca_cpu = "cortex-a72"', 'mca_cpu = ""', r"\[estimate\]\.mca_cpu must be an llvm-mca"),
    ("dram_read_gbps = 3.5", "dram_read_gbps = 3.5\ncache_bytes = 1048576",
     r"missing field \[estimate\]\.cache_read_gbps"),
    ("clock_ghz = 1.5", "clock_gz = 1.5", r"unknown field \[estimate\]\.clock_gz"),
    ('weights = "int4"', 'weights = "int2"', r'\[deploy\]\.weights must be "int8" or "int4"'),
    ('weights = "int4"', 'weights = "int4"\natten_lim = 101', r"\[deploy\]\.atten_lim must be between 0"),
    ('weights = "int4"', 'weights = "int4"\natten_lim = inf', r"\[deploy\]\.atten_lim must be between 0"),
    ('weights = "int4"', 'weights = "int4"\necho_cancel = "yes"', r"\[deploy\]\.echo_cancel must be true or false"),
])
def test_bad_value_is_reported_with_file_and_field(tmp_path, old, new, field):
    d = _copy(tmp_path, edit=lambda t: t.replace(old, new))
    with pytest.raises(BoardError, match=r"rpi4\.toml: (field )?" + field):
        load_board("rpi4", d)


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    d = _copy(tmp_path, edit=lambda t: t + "\n[audio\n")
    with pytest.raises(BoardError, match=r"rpi4\.toml: not valid TOML"):
        load_board("rpi4", d)


def test_edge_boards_json_lists_every_board_with_its_sections(capsys):
    assert main(["boards", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [b["name"] for b in out["boards"]]
    assert names == ALL
    rpi4 = out["boards"][names.index("rpi4")]
    assert rpi4["arch"] == "aarch64" and rpi4["simd"] == ["neon"]
    assert rpi4["audio"]["periods"] == 3 and rpi4["deploy"]["service"] == "percepnet-edge"
    assert rpi4["estimate"]["mca_cpu"] == "cortex-a72" and rpi4["estimate"]["sources"]


def test_edge_boards_table_has_a_line_per_board(capsys):
    assert main(["boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ALL


def test_edge_boards_fails_in_one_line_on_a_broken_descriptor(tmp_path, monkeypatch, capsys):
    for n in ALL:
        shutil.copy(boards.BOARDS_DIR / f"{n}.toml", tmp_path)
    _copy(tmp_path, "rpi5", edit=lambda t: t.replace("periods = 3", "periods = 1"))
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    assert main(["boards"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "rpi5.toml: field [audio].periods must be between 2 and 32" in err


def test_each_board_names_its_integration_and_only_pi5_and_host_take_the_filter():
    kinds = {n: load_board(n).deploy.integration for n in board_names()}
    assert set(kinds.values()) == {"alsa", "pipewire"}
    assert [n for n, k in kinds.items() if k == "pipewire"] == ["host", "rpi5"]


def test_boards_whose_network_streams_from_dram_take_int4_weights_and_the_rest_int8(tmp_path):
    enc = {n: load_board(n).deploy.weights for n in board_names()}
    assert [n for n, w in enc.items() if w == "int4"] == ["rpi3", "rpi3-armv7", "rpi4", "rpizero2w",
                                                          "rpizero2w-armv7"]
    d = _copy(tmp_path, edit=lambda t: t.replace('weights = "int4"\n', ""))
    assert load_board("rpi4", d).deploy.weights == "int8"    # a board that names none


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('integration = "alsa"', 'integration = "pulse"'),
     r'field \[deploy\]\.integration must be "alsa" \(the edge run service on the ALSA devices\) or "pipewire"'),
    (lambda t: t.replace('integration = "alsa"', "integration = 1"),
     r"field \[deploy\]\.integration must be a string"),
    (lambda t: t.replace('integration = "alsa"\n', ""),
     r'missing field \[deploy\]\.integration \(what edge flash installs: "alsa" or "pipewire"\)'),
    (lambda t: t.replace('integration = "alsa"', 'integration = "alsa"\npipewire_conf_dir = "relative"'),
     r"field \[deploy\]\.pipewire_conf_dir must be an absolute path or one starting with ~/"),
])
def test_a_bad_integration_field_is_named_with_the_choices(tmp_path, edit, message):
    (tmp_path / "rpi4.toml").write_text(edit((boards.BOARDS_DIR / "rpi4.toml").read_text()))
    with pytest.raises(BoardError, match=r"rpi4\.toml: " + message):
        load_board("rpi4", tmp_path)
