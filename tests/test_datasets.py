"""datasets/: regenerating reproduces the committed files byte for byte; no package shadows `datasets`."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generator_reproduces_committed_files(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "datasets" / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    written = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert written == sorted(p.name for p in (ROOT / "datasets").glob("*.jsonl"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / "datasets" / name).read_bytes(), name


def test_another_seed_gives_another_world(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "datasets" / "generate.py"), "--out", str(tmp_path), "--seed", "1"],
                   check=True, capture_output=True)
    assert (tmp_path / "corpus.jsonl").read_bytes() != (ROOT / "datasets" / "corpus.jsonl").read_bytes()


def test_datasets_folder_is_not_a_package():
    assert not (ROOT / "datasets" / "__init__.py").exists()
    import datasets

    assert hasattr(datasets, "Dataset")  # the Hugging Face library, not our folder
