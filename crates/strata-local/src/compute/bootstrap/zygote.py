"""Strata's Python fork server: imports what every Python function imports
(boto3 above all, a few hundred milliseconds) once, then forks one worker per
request, so a Python worker starts in milliseconds instead.

Started by Strata as `python3 -u zygote.py` with a Unix datagram socket as
standard input. Each datagram from Strata is one JSON request with two file
descriptors attached (the worker's standard output and error):
    {"script": BOOTSTRAP, "cwd": TASK_ROOT, "env": {...}}
It answers `forked PID` (or `failed REASON`), and later `exit PID STATUS`
when that worker ends, STATUS written as Strata writes a process status
(`exit status: 1`, `signal: 9 (SIGKILL)`). The worker is what
`python3 -u BOOTSTRAP` with that environment would be, in its own process
group, killed if this server dies; this server exits when Strata closes the
socket."""

import json
import os
import runpy
import selectors
import signal
import socket
import sys
import time
import traceback

try:  # what functions import; a missing one is simply not preloaded
    import boto3  # noqa: F401
except ImportError:
    pass

PR_SET_PDEATHSIG = 1


def die_with_parent():
    """SIGKILL this process when its parent exits (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def status_text(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return f"signal: {number} ({name})"
    return f"exit status: {os.waitstatus_to_exitcode(status)}"


def run_worker(request, out_fd, err_fd):
    """In the child: become the worker and never return."""
    code = 1
    try:
        os.setpgid(0, 0)
        die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (null, out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.chdir(request["cwd"])
        sys.argv = [request["script"]]
        runpy.run_path(request["script"], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def main():
    die_with_parent()
    control = socket.socket(fileno=0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "children")

    def send(text):
        control.send(text.encode())

    while True:
        for key, _ in selector.select():
            if key.data == "children":
                os.read(wake_r, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    send(f"exit {pid} {status_text(status)}")
                continue
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
            if not message:
                return  # Strata closed its end
            try:
                request = json.loads(message)
                if len(fds) != 2:
                    raise ValueError(f"expected 2 file descriptors, got {len(fds)}")
                pid = os.fork()
            except Exception as exc:
                for fd in fds:
                    os.close(fd)
                send(f"failed {exc}")
                continue
            if pid == 0:
                selector.close()
                control.close()
                os.close(wake_r)
                os.close(wake_w)
                run_worker(request, *fds)
            # The child makes its own group too; doing it here as well means
            # the group exists before Strata hears the pid (so it can kill it).
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
            for fd in fds:
                os.close(fd)
            send(f"forked {pid}")


if __name__ == "__main__":
    main()
