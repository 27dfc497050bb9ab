"""A flash bundle whose release dies at start-up, for rollback tests (host sshd and the VM)."""
import hashlib
import tarfile
from dataclasses import replace


def broken_bundle(bundle, tmp_path):
    """The bundle with a release whose service dies at start-up (a bug in `edge run`)."""
    d = tmp_path / "broken"
    with tarfile.open(bundle.path) as tar:
        tar.extractall(d, filter="data")
    with open(d / "edge" / "commands" / "run.py", "a") as f:
        f.write("\nraise SystemExit('edge run: broken on purpose by the test')\n")
    path = tmp_path / "broken.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in bundle.files:
            tar.add(d / name, arcname=name)
    data = path.read_bytes()
    return replace(bundle, path=path, version=bundle.version + "-broken",
                   sha256=hashlib.sha256(data).hexdigest(), size=len(data))
