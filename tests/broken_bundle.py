"""A flash bundle whose release dies at start-up, for rollback tests (host sshd and the VM)."""
import hashlib
import tarfile
from dataclasses import replace


def edited_bundle(bundle, tmp_path, member, edit, suffix):
    """The bundle with one member's text passed through edit, as release VERSION-suffix."""
    d = tmp_path / suffix
    with tarfile.open(bundle.path) as tar:
        tar.extractall(d, filter="data")
    (d / member).write_text(edit((d / member).read_text()))
    path = tmp_path / f"{suffix}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in bundle.files:
            tar.add(d / name, arcname=name)
    data = path.read_bytes()
    return replace(bundle, path=path, version=f"{bundle.version}-{suffix}",
                   sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def broken_bundle(bundle, tmp_path):
    """The bundle with a release whose service dies at start-up (a bug in `edge run`)."""
    return edited_bundle(bundle, tmp_path, "edge/commands/run.py",
                         lambda text: text + "\nraise SystemExit('edge run: broken on purpose by the test')\n",
                         "broken")
