#!/usr/bin/python3
"""Runs INSIDE a step. Each check tries one thing and prints
`name: ok` or `name: <ERRNO NAME>` (or a value), one per line, so that tests
assert on what the kernel really answered. Standard library only."""
import ctypes
import errno
import os
import socket
import sys

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
PTRACE_TRACEME = 0
PTRACE_ATTACH = 16


def errname(e):
    return errno.errorcode.get(e, str(e))


def attempt(fn):
    try:
        r = fn()
        return "ok" if r is None else str(r)
    except OSError as e:
        return errname(e.errno)


def libc_call(name, *args):
    def fn():
        r = getattr(libc, name)(*args)
        if r == -1:
            raise OSError(ctypes.get_errno(), name)
    return fn


def write_file(path):
    def fn():
        with open(path, "w") as f:
            f.write("x")
    return fn


def read_file(path):
    def fn():
        with open(path, "rb") as f:
            f.read(1)
    return fn


def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return "missing"


def connect(host, port):
    def fn():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
        finally:
            s.close()
    return fn


def loopback_roundtrip():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=3)
    a, _ = srv.accept()
    c.sendall(b"ping")
    data = a.recv(4)
    for s in (a, c, srv):
        s.close()
    if data != b"ping":
        raise OSError(errno.EIO, "bad loopback data")


def leaked_fds():
    fds = []
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            pass
    return ",".join(map(str, fds)) or "none"


def fork_many(n):
    def fn():
        pids, err = [], None
        for _ in range(n):
            try:
                pid = os.fork()
            except OSError as e:
                err = e
                break
            if pid == 0:
                os.close(w)
                os.read(r, 1)
                os._exit(0)
            pids.append(pid)
        os.close(w)
        for p in pids:
            os.waitpid(p, 0)
        if err:
            raise err
    r, w = os.pipe()
    return fn


CHECKS = {
    "uid": lambda: f"{os.getuid()}:{os.getgid()}:{','.join(map(str, os.getgroups())) or 'none'}",
    "read_shadow": read_file("/etc/shadow"),
    "write_usr": write_file("/usr/stepd-probe"),
    "write_etc": write_file("/etc/stepd-probe"),
    "write_root": write_file("/root/stepd-probe"),
    "write_rootdir": write_file("/stepd-probe"),
    "write_work": write_file("/work/probe-file"),
    "write_tmp": write_file("/tmp/probe-file"),
    "write_devshm": write_file("/dev/shm/probe-file"),
    "write_proc_sys": write_file("/proc/sys/kernel/hostname"),
    "cap_eff": lambda: status_field("CapEff"),
    "cap_prm": lambda: status_field("CapPrm"),
    "cap_inh": lambda: status_field("CapInh"),
    "cap_bnd": lambda: status_field("CapBnd"),
    "cap_amb": lambda: status_field("CapAmb"),
    "no_new_privs": lambda: status_field("NoNewPrivs"),
    "seccomp": lambda: status_field("Seccomp"),
    "pid": lambda: str(os.getpid()),
    "proc_pids": lambda: ",".join(sorted(p for p in os.listdir("/proc") if p.isdigit())),
    "ptrace_traceme": libc_call("ptrace", PTRACE_TRACEME, 0, 0, 0),
    "ptrace_init": libc_call("ptrace", PTRACE_ATTACH, 1, 0, 0),
    "mount_tmpfs": libc_call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
    "unshare_user": libc_call("unshare", CLONE_NEWUSER),
    "unshare_mount": libc_call("unshare", CLONE_NEWNS),
    "raw_socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close(),
    "loopback": loopback_roundtrip,
    "interfaces": lambda: ",".join(sorted(n for _, n in socket.if_nameindex())),
    "leaked_fds": leaked_fds,
    "dev": lambda: ",".join(sorted(os.listdir("/dev"))),
    "tty": read_file("/dev/tty"),
    "stdin": lambda: repr(sys.stdin.buffer.read(16)),
    "hostname": socket.gethostname,
    "cwd": os.getcwd,
    "oom_score_adj": lambda: open("/proc/self/oom_score_adj").read().strip(),
    "lower_oom_score": write_file("/proc/self/oom_score_adj"),
    "env": lambda: ";".join(sorted(f"{k}={v}" for k, v in os.environ.items())),
    "root_listing": lambda: ",".join(sorted(os.listdir("/"))),
    "sid": lambda: "leader" if os.getsid(0) == os.getpid() else "not-leader",
}


def main(argv):
    for arg in argv:
        name, _, param = arg.partition("=")
        if name == "kill":
            res = attempt(lambda: os.kill(int(param), 0))
        elif name == "connect":
            host, port = param.rsplit(":", 1)
            res = attempt(connect(host, int(port)))
        elif name == "read":
            res = attempt(read_file(param))
        elif name == "listdir":
            res = attempt(lambda: ",".join(sorted(os.listdir(param))))
        elif name == "fork_many":
            res = attempt(fork_many(int(param)))
        elif name == "lower_oom_score":
            def lower():
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("-1000")
            res = attempt(lower)
        else:
            res = attempt(CHECKS[name])
        print(f"{arg}: {res}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
