"""What the wheel dataset carries for offline sessions: this package plus what Kaggle's image lacks, built
for Kaggle's Python and platform (needs PyPI). Prints each wheel and the total, against what a plain
`pip download -r` of the same requirements for this machine would fetch (torch and CUDA included).

Run: ./dev python bench/offline_wheels.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kaggle_t2sql.kaggle.wheels import KAGGLE_PYTHON, build_wheels, kaggle_requirements  # noqa: E402


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        kaggle = Path(tmp) / "kaggle"
        names = build_wheels(kaggle, with_deps=True)
        for name in names:
            print(f"  {name}: {(kaggle / name).stat().st_size / 1e6:.1f} MB")
        print(f"wheel dataset for Kaggle (cp{KAGGLE_PYTHON.replace('.', '')}, manylinux x86_64): {len(names)} wheels, "
              f"{folder_mb(kaggle):.1f} MB")
        naive = Path(tmp) / "naive"
        out = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(naive), *kaggle_requirements()],
                             capture_output=True, text=True)
        if out.returncode == 0:
            print(f"a plain `pip download` of the same requirements here (dependencies included): "
                  f"{len(list(naive.iterdir()))} wheels, {folder_mb(naive):.1f} MB "
                  f"-> {folder_mb(naive) / folder_mb(kaggle):.1f}x")
        else:
            print("plain pip download failed:", out.stderr.strip().splitlines()[-1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
