"""Files that are whole or absent: every write goes to a hidden temporary beside its target and
is renamed into place, so a reader, a second run or a crash never sees half a file.

Temporaries are named `.<name>.<pid>.tmp`, so what a killed process left behind can be told
from what a live one is writing.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil

from retro_rl.errors import UserError

# .<name>.<pid>.tmp, and .<name>.<pid>.old.tmp for the folder a new one replaces; <name>.tmp-<pid>
# is what earlier versions of this project left.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(\.old)?\.tmp$"
                        r"|^(?P<old>.+)\.tmp-(?P<oldpid>\d+)$")


def temporary_path(path):
    """The hidden temporary `path` is written to before it is renamed into place."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path, content):
    """Writes `content` (bytes, str, or a callable given the open binary file) to `path`."""
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content.encode() if isinstance(content, str) else content)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json_atomic(path, value):
    write_atomic(path, json.dumps(value, indent=1) + "\n")


@contextlib.contextmanager
def atomic_folder(path):
    """Yields an empty temporary folder; when the block ends without an error it replaces
    `path` (a folder, possibly absent) in one rename, otherwise it is removed."""
    path = pathlib.Path(path).absolute()
    temporary = temporary_path(path)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if path.exists():
            old = path.with_name(f".{path.name}.{os.getpid()}.old.tmp")
            os.replace(path, old)
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def remove_folder(path):
    """Removes a folder in one rename (into a temporary that is then deleted), so a reader never
    sees half of it."""
    path = pathlib.Path(path).absolute()
    old = path.with_name(f".{path.name}.{os.getpid()}.old.tmp")
    os.replace(path, old)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(folder):
    """Makes `folder` if need be and writes a file in it, so that a command refuses an
    unwritable output before its work instead of after it. Raises UserError saying so."""
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(folder / "write-check")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(f"cannot write to {folder} ({error.strerror or error}); choose another "
                        "folder or make it writable") from None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return pid != 0


def remove_stale_temporaries(folder):
    """Removes the temporaries (files or folders) that processes no longer running left in
    `folder` when they were killed while writing. Returns how many it removed."""
    folder = pathlib.Path(folder)
    removed = 0
    for path in folder.iterdir() if folder.is_dir() else ():
        match = _TEMPORARY.match(path.name)
        if not match:
            continue
        pid = int(match["pid"] or match["oldpid"])
        if pid == os.getpid() or _alive(pid):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
