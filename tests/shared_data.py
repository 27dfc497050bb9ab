"""The development audio beside the repository (../shared/data), as CI lays it out too."""
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV = SHARED_DATA / "dev"
