"""Writing files so that readers see the old file or the new one, never a partial one.

Every file the package or its command writes (model files, bundles, plots, exports)
goes through :func:`atomic_write`: the content is written to a temporary file in the
target's folder, flushed to disk, and renamed over the target. A rename within one
folder is atomic on POSIX and Windows, so an interrupted or failed write leaves the
previous file as it was and no temporary file behind.
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def check_writable(path):
    """Raise ``ValueError`` naming the problem if ``path`` cannot be written as a file.

    Meant to be called before long work whose result goes to ``path``: an empty
    name, a path that is a folder, a missing folder or a folder without write
    permission is found before the work, not after it.

    Parameters
    ----------
    path : str or path-like
        The file to be written.

    Returns
    -------
    path : pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = tempfile.mkdtemp()
    >>> check_writable(pathlib.Path(folder) / "model.npz").name
    'model.npz'
    >>> check_writable(folder)
    Traceback (most recent call last):
    ...
    ValueError: ... is a folder, not a file name.
    """
    if str(path) == "":
        raise ValueError("The output file name is empty.")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a file name.")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(
            f"The folder of {str(path)!r} does not exist: {str(folder)!r}."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"The folder {str(folder)!r} is not writable.")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{str(path)!r} exists and is not writable.")
    return path


@contextmanager
def atomic_write_path(path):
    """Yield a temporary file name beside ``path``; on success, rename it to ``path``.

    For writers that take a file name (``savefig``, skops' ``dump``,
    ``numpy.savez``). The temporary name keeps ``path``'s suffix, so writers that
    choose their format by suffix choose the same one.

    Parameters
    ----------
    path : str or path-like
        The file to write. Its folder must exist.

    Yields
    ------
    temporary : str
        The temporary file's name. If the ``with`` block raises, it is removed and
        ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_write_path(target) as temporary:
    ...     _ = pathlib.Path(temporary).write_text("a,b")
    >>> target.read_text()
    'a,b'
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix
    )
    os.close(descriptor)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        # mkstemp makes the file readable by its owner only; give it the mode a
        # plain open() would have given (0o666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success, rename it to ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to write. Its folder must exist.
    mode : {"wb", "w"}, default="wb"
        Binary, or text in UTF-8.

    Yields
    ------
    file : file object
        The open temporary file. If the ``with`` block raises, the temporary file is
        removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_write(target, "w") as f:
    ...     _ = f.write("hello")
    >>> target.read_text()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    encoding = None if mode == "wb" else "utf-8"
    with atomic_write_path(path) as temporary:
        with open(temporary, mode, encoding=encoding) as file:
            yield file
