"""SIMD selection is set up when the library loads and read atomically: threads that ask for
the active path while another selects one are race-free under ThreadSanitizer."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_simd_selection_is_race_free_across_threads(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    exe = tmp_path / "tsan_simd"
    cc = subprocess.run(["gcc", "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-DPN_HAVE_AVX2",
                         "-DPN_HAVE_AVXVNNI", "-fsanitize=thread", "-g", "-O1", "-pthread",
                         "-Inative/include", "-Inative/src", "native/src/simd.c",
                         "native/tests/tsan_simd.c", "-o", str(exe)],
                        cwd=ROOT, capture_output=True, text=True)
    if cc.returncode != 0 and "tsan" in cc.stderr:
        pytest.skip(f"gcc cannot build with ThreadSanitizer here: {cc.stderr.strip()[-200:]}")
    assert cc.returncode == 0, cc.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                       env={"TSAN_OPTIONS": "halt_on_error=0 exitcode=66"})
    if "FATAL: ThreadSanitizer" in r.stderr:
        pytest.skip("ThreadSanitizer cannot run on this kernel: " + r.stderr.strip()[:200])
    assert "data race" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.stdout, r.stderr[-2000:])
