"""What both launchers (local.py on this machine, launch.py on Ray) do with the processes they
start: the learner's command line, learning where it listens, and children that end with the
launcher. Importing it costs neither Ray nor TensorFlow.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def tf_threads(num_envs, cores):
    """TensorFlow's threads per operation for a learner whose machine has `cores` and runs
    `num_envs` workers: each worker keeps a core busy, so TensorFlow gets what they leave, at
    least one."""
    return cores - num_envs if cores > num_envs else 1


def usable_cores():
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0))


def learner_flags(num_envs, gpu, pretrained_model, cores):
    """What a launcher puts before the user's flags on the learner's command line (the user's
    come after, so a flag given wins)."""
    return ["--gpu", str(gpu), "--tf_threads", str(tf_threads(num_envs, cores)),
            "--workers", str(num_envs), "--pretrained_model", pretrained_model]


def _die_with(parent_pid):
    """For Popen's preexec_fn: the child gets SIGTERM when the launcher dies, even by SIGKILL
    (SIGTERM: the learner then saves a last checkpoint, a worker leaves)."""
    def set_death_signal():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # the launcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return set_death_signal


def start(command, die_with_parent=True, **popen_kwargs):
    """subprocess.Popen(command) with PYTHONUNBUFFERED set; `die_with_parent`: it gets SIGTERM
    when this process ends however it ends (the thread that starts it must live as long)."""
    env = {**popen_kwargs.pop("env", os.environ), "PYTHONUNBUFFERED": "1"}
    preexec = _die_with(os.getpid()) if die_with_parent else None
    return subprocess.Popen(command, env=env, preexec_fn=preexec, **popen_kwargs)


def start_learner(flags, die_with_parent=True, **popen_kwargs):
    """learner.py with `flags` and a pipe it writes its HOST:PORT to once workers can connect.
    Returns (process, the pipe's read end for read_address)."""
    read_end, write_end = os.pipe()
    try:
        process = start([sys.executable, os.path.join(ROOT, "learner.py"), *flags,
                         "--address_fd", str(write_end)],
                        die_with_parent, pass_fds=(write_end,), **popen_kwargs)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the learner holds the only write end: its exit is end of file
    return process, read_end


def read_address(read_end, timeout_s=None):
    """The HOST:PORT the learner wrote to its pipe, or None when it ended without listening
    (or `timeout_s` passed first). Closes the pipe."""
    with os.fdopen(read_end) as pipe:
        if timeout_s is not None and not select.select([pipe], [], [], timeout_s)[0]:
            return None
        return pipe.readline().strip() or None


def connect_address(bound, host):
    """Where workers reach a learner bound to `bound` (HOST:PORT): `host` in place of a
    wildcard host."""
    bound_host, port = bound.rsplit(":", 1)
    return f"{host if bound_host in ('0.0.0.0', '', '[::]', '::') else bound_host}:{port}"
