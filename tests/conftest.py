import os
import sys
from pathlib import Path

import pytest

# Test helpers (native_build) live beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def alsa_dir(tmp_path_factory):
    """A temp dir with an asoundrc naming PCMs in it, active for this process (alsa-lib
    rereads its configuration when ALSA_CONFIG_PATH changes)."""
    d = tmp_path_factory.mktemp("alsa")
    rc = (ROOT / "tests/fixtures/alsa/asoundrc.in").read_text().replace("@DIR@", str(d))
    (d / "asoundrc").write_text(rc)
    old = os.environ.get("ALSA_CONFIG_PATH")
    os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{d / 'asoundrc'}"
    yield d
    if old is None:
        del os.environ["ALSA_CONFIG_PATH"]
    else:
        os.environ["ALSA_CONFIG_PATH"] = old


@pytest.fixture(scope="module")
def canceller_built():
    """speexdsp's echo canceller (libpercepnet_aec.so) built for the host, else the tests that
    use it skip, naming why (it is built only where libspeexdsp-dev is installed)."""
    from native_build import build
    from edge import aec
    from edge.errors import EdgeError
    build("host")
    try:
        aec.lib()
    except EdgeError as e:
        pytest.skip(f"speexdsp's canceller is not built in ({e})")
