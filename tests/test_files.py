"""Atomic writes: a failed write leaves the previous file and no temporary file."""

import os

import pytest

from sklearn_smoothbasis._files import atomic_write, atomic_write_path, check_writable


def test_atomic_write_replaces_the_file(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["model.bin"]


@pytest.mark.parametrize("writer", ["file", "path"])
def test_a_failed_write_keeps_the_previous_file(tmp_path, writer):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        if writer == "file":
            with atomic_write(target) as f:
                f.write(b"partial")
                raise OSError("disk full")
        else:
            with atomic_write_path(target) as temporary:
                with open(temporary, "wb") as f:
                    f.write(b"partial")
                raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_the_temporary_name_keeps_the_suffix(tmp_path):
    with atomic_write_path(tmp_path / "plot.png") as temporary:
        assert temporary.endswith(".png")
        assert os.path.dirname(temporary) == str(tmp_path)
        open(temporary, "wb").close()


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_check_writable_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        check_writable("")
    with pytest.raises(ValueError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        check_writable(tmp_path / "missing" / "m.npz")
    assert check_writable(tmp_path / "m.npz") == tmp_path / "m.npz"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_check_writable_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_writable(folder / "m.npz")
    finally:
        folder.chmod(0o755)


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", "a"):
            pass

