"""TensorFlow started quietly, on the devices and threads a command asks for.

TensorFlow's C++ start-up writes lines to stderr (CPU features, CUDA drivers, the XLA service)
that TF_CPP_MIN_LOG_LEVEL does not stop, since they come before its logging starts. A command
calls `start_tensorflow` once its flags and paths are checked: the import, the device set-up
and a first XLA compilation happen with stderr pointed at /dev/null, so a user sees the
command's own lines and its one-line errors, nothing else.
"""

import atexit
import contextlib
import os
import shutil
import tempfile

from retro_rl import fileio


@contextlib.contextmanager
def quiet_stderr():
    """Inside the block, whatever writes to file descriptor 2 (C++ libraries too) goes to
    /dev/null. Python exceptions raised out of the block are printed after it, as usual."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def start_tensorflow(gpu=None, threads=0):
    """Imports and configures TensorFlow; returns the device operations run on, "GPU" or "CPU".

    gpu: True uses a GPU if there is one (with memory growth), False hides every GPU, None leaves
    TensorFlow's own choice. threads: operations' threads (0: TensorFlow's choice); one more
    runs operations side by side. Returns (device, whether a GPU was asked for but missing).
    """
    with quiet_stderr():
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads + 1)
        gpus = tf.config.list_physical_devices("GPU")
        if gpu is False or (gpu and not gpus):
            tf.config.set_visible_devices([], "GPU")
        elif gpus:
            for device in gpus:
                tf.config.experimental.set_memory_growth(device, True)
        # The XLA service logs its start once per process: let that be now.
        tf.function(lambda x: x + 1, jit_compile=True)(tf.constant(1.0))
    device = "GPU" if gpus and gpu is not False else "CPU"
    return device, bool(gpu and not gpus)


def use_private_temporaries(workspace_path, name):
    """Points this process's temporary files (TensorFlow's generated code among them) into
    <workspace>/tmp/.<name>.<pid>.tmp, which is removed at exit; the folders that killed
    processes left there are removed now. Returns the folder."""
    parent = os.path.join(workspace_path, "tmp")
    os.makedirs(parent, exist_ok=True)
    fileio.remove_stale_temporaries(parent)
    folder = str(fileio.temporary_path(os.path.join(parent, name)))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tempfile.tempdir = folder
    os.environ["TMPDIR"] = folder  # for libraries that ask the environment
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
