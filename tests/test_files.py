"""ftlab.files: outputs appear complete or not at all, never over something else, safe for two writers at once."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftlab import files

UTILS = str(Path(files.__file__).resolve().parents[1])

# Two processes stage the same directory; each waits for the other before leaving the `with`, so both renames
# happen together. Then each reads the result for a second, as a notebook that has been handed the path would.
WRITER = """
import sys, time
from pathlib import Path
from ftlab import files

destination, me, other = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with files.staged_dir(destination, replace=True) as staging:
    (staging / "config.json").write_text(me.name)
    me.touch()
    give_up = time.monotonic() + 60
    while not other.exists():
        assert time.monotonic() < give_up, "the other writer never got here"
        time.sleep(0.0005)
end = time.monotonic() + 1
while time.monotonic() < end:
    (destination / "config.json").read_text()
print((destination / "config.json").read_text())
"""


def two_writers(tmp_path: Path, destination: Path) -> list[str]:
    """Run WRITER twice at once; returns what each read back (each must have exited cleanly)."""
    a, b = tmp_path / "ready-a", tmp_path / "ready-b"
    env = {**os.environ, "PYTHONPATH": UTILS}
    runs = [subprocess.Popen([sys.executable, "-c", WRITER, str(destination), str(me), str(other)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for me, other in ((a, b), (b, a))]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(stderr[-1500:] for _, stderr in results)
    a.unlink()
    b.unlink()
    return [stdout.strip() for stdout, _ in results]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing-an-old-one"])
def test_two_processes_staging_one_directory_agree_and_never_lose_it(tmp_path, existing):
    destination = tmp_path / "cache" / "adapter"
    for _ in range(5):
        if existing:
            destination.mkdir(parents=True, exist_ok=True)
            (destination / "config.json").write_text("old")
        read = two_writers(tmp_path, destination)
        assert read[0] == read[1] in {"ready-a", "ready-b"}  # the first to finish wins; the other uses it
        assert (destination / "config.json").read_text() == read[0]
        assert sorted(p.name for p in destination.parent.iterdir()) == ["adapter"]
        if not existing:
            files._remove(destination)


def test_replace_swaps_in_the_new_directory(tmp_path):
    destination = tmp_path / "adapter"
    destination.mkdir()
    (destination / "old.txt").write_text("old")
    with files.staged_dir(destination, replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in destination.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_a_file_that_appears_while_staging_is_not_overwritten(tmp_path):
    destination = tmp_path / "model.gguf"
    with pytest.raises(files.OutputExistsError, match="already exists"), files.staged_file(destination) as staging:
        staging.write_text("mine")
        destination.write_text("theirs")  # e.g. a second notebook exporting to the same name
    assert destination.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_a_directory_that_appears_while_staging_is_not_overwritten(tmp_path):
    destination = tmp_path / "merged"
    with pytest.raises(files.OutputExistsError, match="already exists"), files.staged_dir(destination) as staging:
        (staging / "model.safetensors").write_text("mine")
        destination.mkdir()
        (destination / "model.safetensors").write_text("theirs")
    assert (destination / "model.safetensors").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]


def test_outputs_get_the_umasks_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        with files.staged_file(tmp_path / "model.gguf") as staging:
            staging.write_bytes(b"GGUF")
        with files.staged_dir(tmp_path / "merged"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "model.gguf").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "merged").stat().st_mode & 0o777 == 0o750


def test_stale_staging_is_removed_and_live_staging_kept(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    host, dead = socket.gethostname(), int(finished.stdout)
    entries = {"killed": f".merged.partial-{host}-{dead}-0123abcd",
               "running": f".merged.partial-{host}-{os.getpid()}-0123abcd",
               "other-host-old": ".model.gguf.partial-elsewhere-7-0123abcd",
               "other-host-recent": ".model.gguf.partial-elsewhere-8-0123abcd",
               "not-ours": ".merged.partial-notes"}
    for name in entries.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "shard.safetensors").write_bytes(b"half")
    day_ago = time.time() - files.STALE_AFTER_S - 60
    os.utime(tmp_path / entries["other-host-old"], (day_ago, day_ago))
    with files.staged_file(tmp_path / "Modelfile") as staging:
        staging.write_text("FROM ./model.gguf\n")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"Modelfile", entries["running"], entries["other-host-recent"], entries["not-ours"]}


def test_a_stored_value_is_reused_only_under_its_key(tmp_path):
    path, calls = tmp_path / "out" / "measured.json", []
    def compute():
        calls.append(1)
        return {"accuracy": 0.5}
    assert files.reuse_or_store(path, {"model": "a"}, compute) == {"accuracy": 0.5}
    assert files.reuse_or_store(path, {"model": "a"}, compute) == {"accuracy": 0.5} and len(calls) == 1
    files.reuse_or_store(path, {"model": "b"}, compute)  # another key: measured again, and stored in its place
    path.write_text('{"key": {"model": "b"}, "measured": 1}')  # an older format under the same key
    assert files.reuse_or_store(path, {"model": "b"}, compute) == {"accuracy": 0.5} and len(calls) == 3
