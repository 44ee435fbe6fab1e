"""Opening the files that users name: regular files only, sizes and nesting checked first.

A path given to the library may name anything: a symlink to ``/dev/zero`` (read until memory
runs out), a FIFO (a read that waits forever for a writer), a folder, a file of gigabytes.
Every file the library reads from a user-given path goes through :func:`regular_file` (for
readers that open the path themselves: safetensors, MNE), :func:`torch_archive` (for
:func:`torch.load`) or :func:`read_json`, and every refusal names the file and says what is
wrong with it.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

#: What a file that is not a regular one is, by ``stat``'s test of its mode.
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def regular_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` with its symlinks resolved, checked to be a regular file that is not empty.

    Parameters
    ----------
    path : str or PathLike
        The file a user named.
    what : str
        What the file should be, for the messages (e.g. ``"checkpoint file"``).

    Returns
    -------
    Path
        The resolved path: open this one, not ``path``, so that the file checked is the
        file read even if a symlink on the way changes.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path`` (or a symlink on it points nowhere).
    ValueError
        If it is a folder, FIFO, device or socket, or an empty file.
    """
    resolved = Path(os.path.realpath(path))
    try:
        mode = os.stat(resolved).st_mode
    except (FileNotFoundError, NotADirectoryError):  # the latter: a file on the way
        raise FileNotFoundError(f"No {what} at {os.fspath(path)}.") from None
    _check_mode(mode, path, what)
    if os.stat(resolved).st_size == 0:
        raise ValueError(f"{os.fspath(path)} is empty; it should be a {what}.")
    return resolved


def _check_mode(mode: int, path: str | os.PathLike[str], what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    target = os.path.realpath(path)
    via = f" (a link to {target})" if target != os.path.abspath(path) else ""
    raise ValueError(
        f"{os.fspath(path)}{via} is {kind}, not a regular file; a {what} must be a regular "
        "file (it is not read, as reading it could wait forever or never end)."
    )


def torch_archive(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` resolved, checked to be a zip archive as :func:`torch.save` writes it.

    :func:`torch.save` stores the records of its archive uncompressed, so that they take no
    more memory than the file's size; a compressed record could unpack to any size, and a
    file of the legacy format (before PyTorch 1.6) declares sizes that are allocated before
    they are read: both are refused before torch reads anything.

    Parameters
    ----------
    path : str or PathLike
    what : str
        What the file should be, for the messages.

    Returns
    -------
    Path
        The resolved path (see :func:`regular_file`), to pass to :func:`torch.load`.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If it is not a regular file, not a zip archive, or has compressed records.
    """
    file = regular_file(path, what)
    resave = "Load it with torch.load and save it again with torch.save (PyTorch 1.6 or later)."
    try:
        with zipfile.ZipFile(file) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise ValueError(
            f"{os.fspath(path)} is not the zip archive that torch.save writes. {resave}"
        ) from None
    compressed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise ValueError(
            f"{os.fspath(path)} holds compressed records ({', '.join(compressed[:3])}); "
            "torch.save stores them uncompressed, and a compressed one could unpack to any "
            f"size, so it was not read. {resave}"
        )
    return file


def read_json(path: str | os.PathLike[str], what: str, max_bytes: int, max_depth: int) -> Any:
    """The JSON value in the regular file ``path``, refused if larger or deeper than allowed.

    The file is opened without waiting (a FIFO opens at once), checked to be a regular file
    of at most ``max_bytes`` through the open handle, so that what is checked is what is
    read, and read only then.

    Parameters
    ----------
    path : str or PathLike
    what : str
        What the file should be, for the messages (e.g. ``"saved model's config.json"``).
    max_bytes : int
        The largest file accepted.
    max_depth : int
        The deepest nesting of arrays and objects accepted.

    Returns
    -------
    object
        The parsed value.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If it is not a regular file, is larger than ``max_bytes``, is not JSON or nests
        deeper than ``max_depth``.
    """
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"No {what} at {os.fspath(path)}.") from None
    try:
        status = os.fstat(handle)
        _check_mode(status.st_mode, path, what)
        too_large = ValueError(
            f"{os.fspath(path)} is larger than {max_bytes} bytes, more than a {what} holds; "
            "it was not read."
        )
        if status.st_size > max_bytes:
            raise too_large
        with os.fdopen(handle, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)  # a file that grew since fstat is cut here
    finally:
        os.close(handle)
    if len(data) > max_bytes:
        raise too_large
    try:
        value = json.loads(data)
    except RecursionError:
        raise _too_deep(path, max_depth) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{os.fspath(path)} is not valid JSON: {error}.") from None
    if _depth(value) > max_depth:
        raise _too_deep(path, max_depth)
    return value


def _too_deep(path: str | os.PathLike[str], max_depth: int) -> ValueError:
    return ValueError(
        f"{os.fspath(path)} nests arrays or objects more than {max_depth} deep; it was not "
        "written by this library, or was edited."
    )


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (0 for a number or string)."""
    deepest, stack = 0, [(value, 0)]
    while stack:  # iterative: a deep value must not exhaust Python's recursion limit
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in children)
    return deepest
