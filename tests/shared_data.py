"""The development audio beside the repository (../shared/data), as CI lays it out too."""
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV = SHARED_DATA / "dev"


def dev_files(n: int, reference: str = "dry", max_snr_db: float = 0.0) -> list[str]:
    """The first n dev pairs (MANIFEST.tsv order) with that reference kind, at or below an SNR."""
    import csv
    with open(DEV / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["file"] for r in rows if r["reference"] == reference and float(r["snr_db"]) <= max_snr_db][:n]
