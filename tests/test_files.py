"""Saved files keep their permissions, honour the umask, and killed saves leave no litter."""

from __future__ import annotations

import os
import stat

from svetlana_nb._files import TEMPORARY_TAG, atomic_write_text, remove_stale_temporaries


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_follows_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        atomic_write_text(tmp_path / "shared.json", "{}")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "shared.json") == 0o664


def test_an_overwritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "lab.json"
    path.write_text("old")
    os.chmod(path, 0o664)
    atomic_write_text(path, "new")
    assert _mode(path) == 0o664 and path.read_text() == "new"
    os.chmod(path, 0o640)
    atomic_write_text(path, "newer")
    assert _mode(path) == 0o640


def test_temporaries_of_dead_processes_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "ann.json"
    dead = tmp_path / f".ann.json{TEMPORARY_TAG}999999999-abcd"  # no such process id
    alive = tmp_path / f".ann.json{TEMPORARY_TAG}{os.getpid()}-efgh"  # a save running in this process
    other = tmp_path / f".other.json{TEMPORARY_TAG}999999999-ijkl"  # another file's: left alone
    for litter in (dead, alive, other):
        litter.write_text("half a save")
    atomic_write_text(path, "{}")
    assert not dead.exists() and alive.exists() and other.exists()
    assert remove_stale_temporaries(tmp_path / "other.json") == [other]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["ann.json", alive.name])
