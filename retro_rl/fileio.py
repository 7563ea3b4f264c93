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
import shutil


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


def sha256_file(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
