"""The `edge` command as a Unix tool: quiet on a closed pipe, defaults stated in its help,
bad option values refused in one line."""
import re
import subprocess
import sys
from pathlib import Path

from edge.commands.bench import DEFAULT_SECONDS

ROOT = Path(__file__).resolve().parent.parent
EDGE = str(Path(sys.executable).with_name("edge"))


def test_a_reader_that_closes_the_pipe_ends_edge_quietly():
    """As `edge boards --json | head -1`, without the race of a reader that may still be open
    when edge has written everything: the read end is closed before edge starts."""
    import os
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    try:
        r = subprocess.run([EDGE, "boards", "--json"], stdout=w_fd, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(w_fd)
    assert r.returncode == 141                                    # as if killed by SIGPIPE
    assert r.stderr == ""                                         # no BrokenPipeError traceback


def test_bench_help_states_the_default_seconds_of_each_mode():
    r = subprocess.run([EDGE, "bench", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(r.stdout.split())
    assert f"default: {DEFAULT_SECONDS['dsp']:g} with --dsp, {DEFAULT_SECONDS['board']:g} with --board" in text


def test_published_dsp_figure_names_the_seconds_the_dsp_bench_uses():
    measurements = (ROOT / "docs" / "measurements.md").read_text()
    said = re.search(r"DSP alone \(`--dsp`, (\d+) s of audio", measurements)
    assert said and float(said.group(1)) == DEFAULT_SECONDS["dsp"]


def test_every_relative_link_in_the_readme_and_docs_names_a_file_that_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue                                          # a URL, or a heading on the page
            path = target.split("#")[0]
            assert (page.parent / path).exists(), f"{page.relative_to(ROOT)} links {target}"


def test_edge_run_refuses_bad_telemetry_rotation_in_one_line():
    for args, message in ((["--telemetry-keep", "-1"], "--telemetry-keep must be 0 or more"),
                          (["--telemetry-max-mb", "0"], "--telemetry-max-mb must be positive")):
        r = subprocess.run([EDGE, "run", "--duration", "1", *args], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
