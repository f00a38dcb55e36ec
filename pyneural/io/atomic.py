"""The atomic writer: every net file pyneural writes goes through it."""
import errno
import os


def write_atomically(path, write):
    """Call ``write(f)`` with a binary file beside ``path``, then rename it
    to ``path``: a reader never sees half a file, and on error the old file
    is kept.

    A file that exists keeps its permission bits; a new one gets what a
    plain ``open`` would give (0666 less the umask, applied by the system:
    no process-wide state is touched). A symbolic link is written through:
    its target is replaced, the link stays.

    Raises
    ------
    OSError
        The file cannot be written; whatever ``write`` raises.
    """
    path = os.path.realpath(path)
    if os.path.isdir(path):
        # os.replace would fail only after the write, naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    directory, name = os.path.split(path)
    for attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{attempt}.pyneural-tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name", tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
