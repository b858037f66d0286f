"""Write the sample media under examples/media (or a folder given as the first argument)."""

import sys
from pathlib import Path

from forensics.samples import make_samples

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "examples" / "media"
    for path in make_samples(folder):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
