#!/usr/bin/python3
"""`stepd exec` end to end: each sandbox property is checked from inside a
real step (tests/integration/sandbox/probe.py) that tries to break it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

STEPD = os.environ.get("STEPD", "stepd")
HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "probe.py")
UID = 61234
GID = 61234


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.result = None
        for line in reversed(self.stderr.splitlines()):
            if line.startswith("{"):
                self.result = json.loads(line)
                break
        self.checks = {}
        for line in self.stdout.splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                self.checks[name] = value

    def __repr__(self):
        return f"rc={self.rc} stdout={self.stdout!r} stderr={self.stderr!r}"


class ExecTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="stepd-exec-test-")  # 0700
        cls.state = os.path.join(cls.tmp.name, "state")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def stepd_exec(self, cmd, *opts, env=None, timeout=60, **kw):
        args = [STEPD, "exec", "--json", "--state", self.state, "--uid", str(UID),
                "--gid", str(GID), *opts, "--", *cmd]
        proc = subprocess.run(args, capture_output=True, env=env, timeout=timeout, **kw)
        return Result(proc)

    def probe(self, *checks, opts=()):
        r = self.stepd_exec(["/usr/bin/python3", "/probe/probe.py", *checks],
                            "--bind-ro", f"{PROBE}:/probe/probe.py", *opts)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.result["reason"], "exited", r)
        return r.checks


class TestConfinement(ExecTestCase):
    def test_the_init_is_the_step_and_unreadable_before_the_step_runs(self):
        # pid 1 of the step holds a copy of the launcher's memory. From the
        # step's first command on, it is the step's uid with no capability
        # and no_new_privs, and its memory cannot be opened, even where
        # fs.suid_dumpable=1 makes a change of ids leave processes dumpable.
        with open("/proc/sys/fs/suid_dumpable") as f:
            saved = f.read().strip()
        try:
            with open("/proc/sys/fs/suid_dumpable", "w") as f:
                f.write("1")
            r = self.stepd_exec(["/bin/sh", "-c",
                                 "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' "
                                 "/proc/1/status | sed 's/:[[:space:]]*/: /'; head -c1 /proc/1/mem >/dev/null 2>&1 "
                                 "&& echo 'mem: readable' || echo 'mem: denied'"])
        finally:
            with open("/proc/sys/fs/suid_dumpable", "w") as f:
                f.write(saved)
        self.assertEqual(r.rc, 0, r)
        c = {k: " ".join(v.split()) for k, v in r.checks.items()}
        self.assertEqual(c["Uid"], " ".join([str(UID)] * 4), r)
        self.assertEqual(c["Gid"], " ".join([str(GID)] * 4), r)
        self.assertEqual(c.get("Groups", ""), "", r)
        for cap in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertEqual(int(c[cap], 16), 0, (cap, r))
        self.assertEqual(c["NoNewPrivs"], "1", r)
        self.assertEqual(c["mem"], "denied", r)

    def test_identity_is_the_spec_uid_without_groups(self):
        c = self.probe("uid")
        self.assertEqual(c["uid"], f"{UID}:{GID}:none")

    def test_cannot_read_shadow(self):
        self.assertEqual(self.probe("read_shadow")["read_shadow"], "EACCES")

    def test_system_folders_and_root_are_read_only(self):
        c = self.probe("write_usr", "write_etc", "write_root", "write_rootdir")
        self.assertEqual(c["write_usr"], "EROFS")
        self.assertEqual(c["write_etc"], "EROFS")
        self.assertIn(c["write_root"], ("EROFS", "ENOENT"))
        self.assertEqual(c["write_rootdir"], "EROFS")
        self.assertFalse(os.path.exists("/usr/stepd-probe"))
        self.assertFalse(os.path.exists("/etc/stepd-probe"))

    def test_workdir_tmp_and_shm_are_writable(self):
        c = self.probe("write_work", "write_tmp", "write_devshm", "cwd")
        self.assertEqual(c["write_work"], "ok")
        self.assertEqual(c["write_tmp"], "ok")
        self.assertEqual(c["write_devshm"], "ok")
        self.assertEqual(c["cwd"], "/work")

    def test_no_capabilities_nnp_and_seccomp(self):
        c = self.probe("cap_eff", "cap_prm", "cap_inh", "cap_bnd", "cap_amb",
                       "no_new_privs", "seccomp")
        for k in ("cap_eff", "cap_prm", "cap_inh", "cap_bnd", "cap_amb"):
            self.assertEqual(int(c[k], 16), 0, f"{k}={c[k]}")
        self.assertEqual(c["no_new_privs"], "1")
        self.assertEqual(c["seccomp"], "2")

    def test_own_pid_namespace_hides_host_processes(self):
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            c = self.probe("pid", "proc_pids", f"kill={sleeper.pid}")
        finally:
            sleeper.kill()
            sleeper.wait()
        self.assertEqual(c["pid"], "2")  # pid 1 is the step's init
        self.assertEqual(c["proc_pids"], "1,2")
        self.assertEqual(c[f"kill={sleeper.pid}"], "ESRCH")

    def test_ptrace_mount_userns_raw_socket_denied(self):
        c = self.probe("ptrace_traceme", "ptrace_init", "mount_tmpfs", "unshare_user",
                       "unshare_mount", "raw_socket")
        for k in ("ptrace_traceme", "ptrace_init", "mount_tmpfs", "unshare_user",
                  "unshare_mount", "raw_socket"):
            self.assertIn(c[k], ("EPERM", "EACCES"), f"{k}: {c[k]}")

    def test_minimal_dev_and_no_terminal(self):
        c = self.probe("dev", "tty", "sid", "stdin")
        self.assertEqual(c["dev"], "fd,full,null,random,shm,stderr,stdin,stdout,urandom,zero")
        self.assertIn(c["tty"], ("ENOENT", "ENXIO"))
        self.assertEqual(c["sid"], "leader")
        self.assertEqual(c["stdin"], "b''")

    def test_root_holds_only_what_the_spec_names(self):
        c = self.probe("root_listing")
        entries = set(c["root_listing"].split(","))
        self.assertTrue({"usr", "etc", "proc", "dev", "tmp", "work"} <= entries, entries)
        self.assertNotIn("root", entries)
        self.assertNotIn("home", entries)
        self.assertNotIn("var", entries)

    def test_no_fd_leaks_from_the_launcher(self):
        r, w = os.pipe()  # inheritable fds in stepd exec itself
        os.set_inheritable(r, True)
        try:
            res = self.stepd_exec(["/usr/bin/python3", "/probe/probe.py", "leaked_fds"],
                                  "--bind-ro", f"{PROBE}:/probe/probe.py", pass_fds=(r, w))
        finally:
            os.close(r)
            os.close(w)
        self.assertEqual(res.checks.get("leaked_fds"), "none", res)

    def test_environment_is_exactly_the_spec(self):
        # /usr/bin/env, not python: python adds LC_CTYPE itself (PEP 538)
        env = dict(os.environ, SECRET_TOKEN="hunter2", PASSME="yes")
        r = self.stepd_exec(["/usr/bin/env"], "--env", "FOO=bar", "--env-pass", "PASSME",
                            env=env)
        self.assertEqual(sorted(r.stdout.splitlines()),
                         ["FOO=bar", "HOME=/work", "PASSME=yes",
                          "PATH=/usr/local/bin:/usr/bin:/bin"], r)

    def test_oom_score(self):
        c = self.probe("oom_score_adj", "lower_oom_score")
        self.assertEqual(c["oom_score_adj"], "0")
        self.assertIn(c["lower_oom_score"], ("EACCES", "EPERM"))

    def test_hostname(self):
        self.assertEqual(self.probe("hostname", opts=("--hostname", "builder"))["hostname"],
                         "builder")


class TestNetwork(ExecTestCase):
    def setUp(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]

    def tearDown(self):
        self.listener.close()

    def test_none_has_only_lo_which_works(self):
        c = self.probe("interfaces", "loopback", f"connect=127.0.0.1:{self.port}")
        self.assertEqual(c["interfaces"], "lo")
        self.assertEqual(c["loopback"], "ok")
        self.assertEqual(c[f"connect=127.0.0.1:{self.port}"], "ECONNREFUSED")

    def test_host_network_reaches_host_loopback(self):
        c = self.probe(f"connect=127.0.0.1:{self.port}", opts=("--net", "host"))
        self.assertEqual(c[f"connect=127.0.0.1:{self.port}"], "ok")


class TestLimits(ExecTestCase):
    def test_memory_limit_ends_in_oom(self):
        r = self.stepd_exec(["/usr/bin/python3", "-c", "b = bytearray(400 << 20)"],
                            "--memory", "64M")
        self.assertEqual(r.result["reason"], "oom", r)
        self.assertGreaterEqual(r.result["oom_kills"], 1)
        self.assertGreater(r.result["memory_peak_bytes"], 32 << 20)
        self.assertNotEqual(r.rc, 0)

    def test_pids_limit_makes_fork_fail(self):
        r = self.probe("fork_many=64", opts=("--pids", "16"))
        self.assertEqual(r["fork_many=64"], "EAGAIN")
        r = self.probe("fork_many=8", opts=("--pids", "16"))
        self.assertEqual(r["fork_many=8"], "ok")

    def test_pids_limit_in_a_user_namespace(self):
        # there the init joins its cgroup right after "go", before anything else
        r = self.probe("fork_many=64", opts=("--pids", "16", "--userns"))
        self.assertEqual(r["fork_many=64"], "EAGAIN")

    def test_timeout(self):
        t0 = time.monotonic()
        r = self.stepd_exec(["/bin/sleep", "30"], "--timeout", "1s", "--kill-grace", "1s")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.result["reason"], "timeout", r)
        self.assertLess(elapsed, 10)
        self.assertGreaterEqual(r.result["wall_ms"], 900)

    def test_step_ignoring_sigterm_is_killed_after_grace(self):
        t0 = time.monotonic()
        r = self.stepd_exec(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
                            "--timeout", "500ms", "--kill-grace", "1s")
        self.assertEqual(r.result["reason"], "timeout", r)
        self.assertLess(time.monotonic() - t0, 10)

    def test_cpu_time_is_accounted(self):
        r = self.stepd_exec(["/bin/sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        self.assertEqual(r.result["reason"], "exited", r)
        self.assertGreater(r.result["cpu_user_ms"] + r.result["cpu_system_ms"], 50)

    def test_file_size_limit(self):
        r = self.stepd_exec(["/bin/sh", "-c", "head -c 2000000 /dev/zero > /work/big"],
                            "--fsize", "1M")
        self.assertNotEqual(r.result["exit_code"], 0, r)


def has_cap(bit):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << bit))
    return False


def cgroup_paths(pid):
    """{controller: path} of a process; v2's unified path under ""."""
    paths = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f.read().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                paths[c] = path
    return paths


def cgroup_dir(ctrl, path):
    """Where a cgroup of controller ctrl ("" for v2) lives on this host."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[sep + 3].split(",")
            if (ctrl == "" and fstype == "cgroup2") or (fstype == "cgroup" and ctrl in opts):
                return fields[4] + path
    raise AssertionError(f"no hierarchy for {ctrl!r}")


CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def processes_with(marker, start=False):
    marker = marker.encode().decode("unicode_escape").encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
                if cmdline.startswith(marker) if start else marker in cmdline:
                    found.append(int(pid))
        except OSError:
            pass
    return found


class TestTeardown(ExecTestCase):
    def test_background_processes_do_not_outlive_the_step(self):
        marker = "7777.123"
        script = (f"(setsid sleep {marker} </dev/null >/dev/null 2>&1 &); "
                  f"(sleep {marker} &); echo started")
        r = self.stepd_exec(["/bin/sh", "-c", script], "--kill-grace", "1s")
        self.assertEqual(r.result["reason"], "exited", r)
        self.assertEqual(r.result["exit_code"], 0)
        self.assertGreaterEqual(r.result["processes_killed"], 2, r)
        self.assertEqual(processes_with(marker), [])

    def test_nothing_left_mounted_and_no_workdir(self):
        r = self.stepd_exec(["/bin/true"])
        self.assertEqual(r.rc, 0, r)
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.state, f.read())
        exec_dir = os.path.join(self.state, "exec")
        self.assertEqual(os.listdir(exec_dir), [])

    def test_exit_code_and_signal(self):
        r = self.stepd_exec(["/bin/sh", "-c", "exit 7"])
        self.assertEqual((r.rc, r.result["reason"], r.result["exit_code"]), (7, "exited", 7))
        r = self.stepd_exec(["/bin/sh", "-c", "kill -KILL $$"])
        self.assertEqual((r.rc, r.result["reason"], r.result["signal"]), (137, "signaled", 9))

    def running_launcher(self):
        return subprocess.Popen([STEPD, "exec", "--state", self.state, "--uid", str(UID),
                                 "--gid", str(GID), "--", "/bin/sleep", "2.0421"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def test_launcher_is_protected_from_oom_killer(self):
        if not has_cap(24):  # CAP_SYS_RESOURCE
            self.skipTest("this environment withholds CAP_SYS_RESOURCE from root: "
                          "oom_score_adj cannot be lowered")
        proc = self.running_launcher()
        try:
            time.sleep(0.5)
            with open(f"/proc/{proc.pid}/oom_score_adj") as f:
                self.assertEqual(f.read().strip(), "-1000")
        finally:
            proc.wait(timeout=30)

    def test_launcher_is_not_in_the_step_cgroup(self):
        proc = self.running_launcher()
        try:
            time.sleep(0.5)
            with open(f"/proc/{proc.pid}/cgroup") as f:
                launcher = f.read()
            sleeper = [p for p in processes_with("/bin/sleep\\x002.0421\\x00", start=True)]
            self.assertEqual(len(sleeper), 1, sleeper)
            with open(f"/proc/{sleeper[0]}/cgroup") as f:
                step = f.read()
        finally:
            proc.wait(timeout=30)
        self.assertNotIn("/stepd/", launcher)
        paths = {}
        for line in step.splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(","):
                paths[c] = path
        for ctrl in ("memory", "pids", "cpu"):
            self.assertIn("/stepd/", paths.get(ctrl, ""), f"{ctrl}: {step}")

    def test_init_leaves_the_step_cgroup_once_the_command_runs(self):
        # v1: the step's init moves back to the launcher's cgroup once the
        # command runs, so the step's cgroup is empty when the step ends and
        # stepd exec removes it then (that it does not wait for the init:
        # the unit test release_at_the_end_...); gone when it returns
        proc = self.running_launcher()
        try:
            time.sleep(0.5)
            sleeper = processes_with("/bin/sleep\\x002.0421\\x00", start=True)
            self.assertEqual(len(sleeper), 1, sleeper)
            with open(f"/proc/{sleeper[0]}/status") as f:
                init = int([l for l in f if l.startswith("PPid:")][0].split()[1])
            step, init_cg = cgroup_paths(sleeper[0]), cgroup_paths(init)
            launcher = cgroup_paths(proc.pid)
        finally:
            proc.wait(timeout=30)
        ctrls = [""] if CGROUP_V2 else ["memory", "pids", "cpu"]
        for ctrl in ctrls:
            self.assertIn("/stepd/", step[ctrl], step)
            if not CGROUP_V2:  # v2: it stays (leaving would cost an RCU grace period)
                self.assertEqual(init_cg[ctrl], launcher[ctrl], (ctrl, init_cg, launcher))
            self.assertFalse(os.path.exists(cgroup_dir(ctrl, step[ctrl])), (ctrl, step))

    def test_cancel_by_signal(self):
        proc = subprocess.Popen([STEPD, "exec", "--json", "--state", self.state, "--uid",
                                 str(UID), "--gid", str(GID), "--", "/bin/sleep", "30"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        res = json.loads(err.decode().strip().splitlines()[-1])
        self.assertEqual(res["reason"], "cancelled")

    def test_signal_after_the_end_changes_nothing(self):
        # The step writes more than our stdout pipe holds and exits: stepd
        # exec is stuck writing it on when its init reports the end. The
        # SIGINT that arrives meanwhile comes after the end: no cancel.
        proc = subprocess.Popen([STEPD, "exec", "--json", "--state", self.state, "--uid",
                                 str(UID), "--gid", str(GID), "--", "/bin/sh", "-c",
                                 "head -c 100000 /dev/zero; exit 0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        self.assertEqual(len(out), 100000)
        res = json.loads(err.decode().strip().splitlines()[-1])
        self.assertEqual(res["reason"], "exited", res)
        self.assertEqual(proc.returncode, 0)


class TestWorkingFolders(ExecTestCase):
    def test_second_project_cannot_see_first(self):
        keep = self.stepd_exec(["/bin/sh", "-c", "echo secret > /work/s; pwd"],
                               "--project", "alpha", "--keep-workdir")
        self.assertEqual(keep.rc, 0, keep)
        folders = os.listdir(os.path.join(self.state, "exec"))
        self.assertEqual(len(folders), 1)
        alpha = os.path.join(self.state, "exec", folders[0])
        st = os.stat(alpha)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (UID, 0o700))
        try:
            c = self.probe(f"read={alpha}/s", f"listdir={self.state}", "listdir=/work",
                           opts=("--project", "beta"))
            self.assertEqual(c[f"read={alpha}/s"], "ENOENT")
            self.assertEqual(c[f"listdir={self.state}"], "ENOENT")
            self.assertEqual(c["listdir=/work"], "")
        finally:
            subprocess.run(["rm", "-rf", alpha])

    def test_planted_symlink_is_not_followed_at_cleanup(self):
        victim = os.path.join(self.tmp.name, "victim")
        os.makedirs(victim, exist_ok=True)
        with open(os.path.join(victim, "keep"), "w") as f:
            f.write("x")
        r = self.stepd_exec(["/bin/sh", "-c", f"ln -s {victim} /work/link; mkdir -p /work/a/b; "
                             f"ln -s /etc /work/a/b/etc"])
        self.assertEqual(r.rc, 0, r)
        self.assertTrue(os.path.exists(os.path.join(victim, "keep")))
        self.assertTrue(os.path.exists("/etc/passwd"))
        self.assertEqual(os.listdir(os.path.join(self.state, "exec")), [])


class TestUserNamespace(ExecTestCase):
    def test_userns_step_is_root_without_capabilities(self):
        c = self.probe("uid", "cap_eff", "cap_bnd", "seccomp", "write_work", "read_shadow",
                       "unshare_user", opts=("--userns",))
        self.assertEqual(c["uid"], "0:0:none")
        self.assertEqual(int(c["cap_eff"], 16), 0)
        self.assertEqual(int(c["cap_bnd"], 16), 0)
        self.assertEqual(c["seccomp"], "2")
        self.assertEqual(c["write_work"], "ok")
        self.assertEqual(c["read_shadow"], "EACCES")
        self.assertEqual(c["unshare_user"], "EPERM")

    def test_userns_files_belong_to_the_project_uid_on_the_host(self):
        r = self.stepd_exec(["/bin/sh", "-c", "cat /proc/self/uid_map; touch /work/f"],
                            "--userns", "--keep-workdir")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout.split(), ["0", str(UID), "1"])
        exec_dir = os.path.join(self.state, "exec")
        for d in os.listdir(exec_dir):
            f = os.path.join(exec_dir, d, "f")
            if os.path.exists(f):
                self.assertEqual(os.stat(f).st_uid, UID)
                subprocess.run(["rm", "-rf", os.path.join(exec_dir, d)])
                return
        self.fail("no file written")


class TestInitHygiene(ExecTestCase):
    def test_init_holds_no_launcher_fds(self):
        extra = socket.socket()  # an open socket of the launcher: must not reach the step
        os.set_inheritable(extra.fileno(), True)
        proc = subprocess.Popen([STEPD, "exec", "--state", self.state, "--uid", str(UID),
                                 "--gid", str(GID), "--", "/bin/sleep", "3.0577"],
                                pass_fds=(extra.fileno(),),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)
            sleeper = processes_with("/bin/sleep\\x003.0577\\x00", start=True)
            self.assertEqual(len(sleeper), 1)
            with open(f"/proc/{sleeper[0]}/status") as f:
                init = int([l for l in f if l.startswith("PPid:")][0].split()[1])
            fds = {int(fd): os.readlink(f"/proc/{init}/fd/{fd}")
                   for fd in os.listdir(f"/proc/{init}/fd")}
        finally:
            extra.close()
            proc.wait(timeout=30)
        # only the sync socket: not the launcher's stdio (its caller may read
        # that until EOF, and the launcher exits before the init), nothing else
        self.assertEqual(len(fds), 1, fds)
        self.assertTrue(list(fds.values())[0].startswith("socket:"), fds)
        self.assertNotIn(extra.fileno(), fds, fds)


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True)


class TestBridge(ExecTestCase):
    """Bridge networking, entirely inside a network namespace the test makes:
    the bridge, the listener and stepd exec itself all live there."""
    NS = f"stepd-test-br-{os.getpid()}"

    def setUp(self):
        ip("netns", "add", self.NS)
        self.addCleanup(ip, "netns", "del", self.NS, check=False)
        ip("-n", self.NS, "link", "add", "br0", "type", "bridge")
        ip("-n", self.NS, "addr", "add", "10.77.0.1/24", "dev", "br0")
        ip("-n", self.NS, "link", "set", "br0", "up")
        ip("-n", self.NS, "link", "set", "lo", "up")

    def nsenter(self):
        # only the network namespace: `ip netns exec` would also remount /sys
        # and hide the cgroup hierarchies
        return ["nsenter", f"--net=/run/netns/{self.NS}", "--"]

    def test_step_reaches_the_bridge_and_nothing_is_left(self):
        listener = subprocess.Popen(
            [*self.nsenter(), "python3", "-c",
             "import socket; s=socket.socket(); s.bind(('10.77.0.1', 7070)); s.listen(1); "
             "print('ready', flush=True); c,_=s.accept(); print(c.recv(5).decode(), flush=True)"],
            stdout=subprocess.PIPE)
        self.assertEqual(listener.stdout.readline().strip(), b"ready")
        r = subprocess.run(
            [*self.nsenter(), STEPD, "exec", "--json", "--state", self.state,
             "--uid", str(UID), "--gid", str(GID), "--net", "bridge", "--bridge", "br0",
             "--address", "10.77.0.5/24", "--gateway", "10.77.0.1", "--",
             "/usr/bin/python3", "-c",
             "import socket; c=socket.create_connection(('10.77.0.1', 7070), 5); "
             "c.sendall(b'hello'); print(sorted(n for _, n in socket.if_nameindex()))"],
            capture_output=True, timeout=60)
        out, _ = listener.communicate(timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(out.decode().strip(), "hello")
        self.assertIn(b"['eth0', 'lo']", r.stdout)
        links = ip("-n", self.NS, "-o", "link").stdout.decode()
        self.assertNotIn("sd", "".join(l.split(":")[1] for l in links.splitlines()))

    def test_early_setup_failure_is_reported_precisely(self):
        # the init fails before "go" and takes its network namespace with
        # it: its own report wins over the veth's failure
        for name in ("sources", "mounts"):
            with self.subTest(step=name):
                r = subprocess.run(
                    [*self.nsenter(), STEPD, "exec", "--json", "--state", self.state,
                     "--uid", str(UID), "--gid", str(GID), "--net", "bridge", "--bridge", "br0",
                     "--address", "10.77.0.5/24", "--", "/bin/true"],
                    capture_output=True, timeout=60,
                    env=dict(os.environ, STEPD_TEST_FAIL_STEP=name))
                self.assertEqual(r.returncode, 125, r)
                res = json.loads(r.stderr.decode().strip().splitlines()[-1])
                self.assertEqual((res["reason"], res["setup_step"]), ("setup-failed", name), r)
                links = ip("-n", self.NS, "-o", "link").stdout.decode()
                self.assertNotIn("sd", "".join(l.split(":")[1] for l in links.splitlines()))

    def test_missing_bridge_is_a_clear_error(self):
        r = subprocess.run(
            [*self.nsenter(), STEPD, "exec", "--state", self.state, "--net",
             "bridge", "--bridge", "nosuchbr", "--address", "10.77.0.5/24", "--", "/bin/true"],
            capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 125)
        self.assertIn(b"bridge 'nosuchbr' does not exist", r.stderr)


class TestRootfs(ExecTestCase):
    def make_rootfs(self):
        root = os.path.join(self.tmp.name, "rootfs")
        for d in ("bin", "proc", "dev", "tmp", "work", "lib", "lib64", "etc"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        shutil.copy("/usr/bin/dash", os.path.join(root, "bin", "sh"))
        ldd = subprocess.run(["ldd", "/usr/bin/dash"], capture_output=True, text=True).stdout
        for word in ldd.split():
            if word.startswith("/") and os.path.exists(word):
                dst = os.path.join(root, word.lstrip("/"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy(word, dst)
        with open(os.path.join(root, "etc", "marker"), "w") as f:
            f.write("rootfs\n")
        return root

    def test_admin_root_filesystem(self):
        root = self.make_rootfs()
        r = self.stepd_exec(["/bin/sh", "-c", "read m < /etc/marker; echo $m; "
                             "echo x > /etc/new || echo ro; echo y > /work/w && echo rw"],
                            "--rootfs", root)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout.split(), ["rootfs", "ro", "rw"])
        self.assertFalse(os.path.exists(os.path.join(root, "etc", "new")))

    def test_rootfs_without_mount_points_fails_clearly(self):
        root = os.path.join(self.tmp.name, "emptyroot")
        os.makedirs(root, exist_ok=True)
        r = self.stepd_exec(["/bin/true"], "--rootfs", root)
        self.assertEqual(r.result["reason"], "setup-failed", r)
        self.assertEqual(r.result["setup_step"], "mounts")
        self.assertIn("/proc", r.result["message"])


    def test_bind_targets_are_made_only_on_the_steps_own_tmpfs(self):
        # Missing mount points (a folder and a file, with their parents)
        # are made on the step's own root; never inside a bind of a host
        # folder, and never through a link.
        src = os.path.join(self.tmp.name, "bind-src")
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, "f"), "w") as f:
            f.write("bound\n")
        r = self.stepd_exec(["/bin/sh", "-c", "cat /a/b/dir/f /c/file"],
                            "--bind-ro", f"{src}:/a/b/dir",
                            "--bind-ro", f"{os.path.join(src, 'f')}:/c/file")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout.split(), ["bound", "bound"])
        host = "/usr/stepd-test-no-such-target"
        self.assertFalse(os.path.exists(host))
        r = self.stepd_exec(["/bin/true"], "--bind-ro", f"{src}:{host}/x")
        self.assertEqual((r.result["reason"], r.result["setup_step"]), ("setup-failed", "mounts"), r)
        self.assertEqual(r.result["setup_errno"], 2, r)  # ENOENT
        self.assertIn("/usr/stepd-test-no-such-target", r.result["message"])
        self.assertFalse(os.path.exists(host))
        # /bin is a link to usr/bin in the step's root (on this host)
        if os.path.islink("/bin"):
            r = self.stepd_exec(["/bin/true"], "--bind-ro", f"{src}:/bin/x")
            self.assertEqual((r.result["reason"], r.result["setup_step"]), ("setup-failed", "mounts"), r)
            self.assertEqual(r.result["setup_errno"], 40, r)  # ELOOP
            self.assertFalse(os.path.exists("/usr/bin/x"))


class TestReviewFindings(ExecTestCase):
    """Each of these once let a step reach past its sandbox or hang its launcher."""

    def test_passing_the_output_pipes_away_does_not_hold_the_launcher(self):
        shared = os.path.join(self.tmp.name, "shared")
        os.makedirs(shared, exist_ok=True)
        os.chmod(shared, 0o777)
        path = os.path.join(shared, "fds.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o777)
        srv.listen(1)
        held = []
        try:
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [STEPD, "exec", "--json", "--state", self.state, "--uid", str(UID), "--gid",
                 str(GID), "--bind", f"{shared}:/shared", "--timeout", "30s", "--",
                 "/usr/bin/python3", "-c",
                 "import socket; s=socket.socket(socket.AF_UNIX); s.connect('/shared/fds.sock');"
                 "socket.send_fds(s, [b'x'], [1, 2]); print('sent', flush=True)"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            conn, _ = srv.accept()
            _, fds, _, _ = socket.recv_fds(conn, 1, 4)
            held += fds  # someone outside the step now holds its stdout and stderr
            out, err = proc.communicate(timeout=20)
            elapsed = time.monotonic() - t0
            conn.close()
        finally:
            for fd in held:
                os.close(fd)
            srv.close()
        res = json.loads(err.decode().strip().splitlines()[-1])
        self.assertEqual(res["reason"], "exited")
        self.assertEqual(out, b"sent\n")
        self.assertLess(elapsed, 10)

    def test_uid_zero_is_refused(self):
        for opts in (["--uid", "0"], ["--gid", "0"]):
            r = self.stepd_exec(["/bin/true"], *opts)
            self.assertEqual(r.rc, 125, r)
            self.assertIn("refusing to run a step as uid or gid 0", r.stderr)

    def test_proc_knobs_are_read_only(self):
        self.assertEqual(self.probe("write_proc_sys")["write_proc_sys"], "EROFS")

    def test_stepd_configuration_is_masked(self):
        if os.path.exists("/etc/stepd"):
            self.skipTest("/etc/stepd exists on this host; not touching it")
        os.makedirs("/etc/stepd/projects.d")
        try:
            with open("/etc/stepd/projects.d/other.json", "w") as f:
                f.write('{"env": {"TOKEN": "secret"}}')
            os.chmod("/etc/stepd/projects.d/other.json", 0o644)
            c = self.probe("listdir=/etc/stepd", "read=/etc/stepd/projects.d/other.json")
        finally:
            shutil.rmtree("/etc/stepd")
        self.assertEqual(c["listdir=/etc/stepd"], "")
        self.assertEqual(c["read=/etc/stepd/projects.d/other.json"], "ENOENT")

    def test_nested_mounts_of_an_admin_rootfs_are_read_only(self):
        root = TestRootfs.make_rootfs(self)
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        script = (f"mount -t tmpfs none {root}/data && exec {STEPD} exec --json --state "
                  f"{self.state} --uid {UID} --gid {GID} --rootfs {root} -- /bin/sh -c "
                  "'echo x > /data/x && echo wrote || echo refused'")
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, timeout=60)
        self.assertEqual(r.stdout.decode().split(), ["refused"], r)

    def test_a_reader_that_goes_away_does_not_kill_the_launcher(self):
        r = subprocess.run(f"{STEPD} exec --json --state {self.state} --uid {UID} --gid {GID} "
                           "-- /usr/bin/yes | head -n 1", shell=True, capture_output=True,
                           timeout=60)
        self.assertEqual(r.stdout, b"y\n")
        res = json.loads(r.stderr.decode().strip().splitlines()[-1])
        self.assertEqual((res["reason"], res["signal"]), ("signaled", 13))
        self.assertEqual(os.listdir(os.path.join(self.state, "exec")), [])

    def test_a_very_deep_working_folder_is_removed(self):
        r = self.stepd_exec(["/bin/sh", "-c", "cd /work; i=0; while [ $i -lt 700 ]; do "
                             "mkdir d; cd d; i=$((i+1)); done; touch f"])
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("cannot remove", r.stderr)
        self.assertEqual(os.listdir(os.path.join(self.state, "exec")), [])


class TestSetupFailures(ExecTestCase):
    STEPS = ["cgroup", "wait-go", "sources", "user-namespace", "cgroup-namespace", "network-namespace", "hostname", "mounts", "network", "stdio",
             "session", "oom-score", "rlimits", "cwd", "capabilities", "identity",
             "no-new-privs", "close-fds", "seccomp", "exec"]

    def test_every_setup_step_reports_precisely(self):
        for name in self.STEPS:
            with self.subTest(step=name):
                env = dict(os.environ, STEPD_TEST_FAIL_STEP=name)
                r = self.stepd_exec(["/bin/true"], env=env)
                self.assertEqual(r.rc, 125, r)
                self.assertEqual(r.result["reason"], "setup-failed", r)
                self.assertEqual(r.result["setup_step"], name, r)
                self.assertEqual(r.result["setup_errno"], 125)  # ECANCELED

    def test_every_init_step_reports_precisely_in_a_user_namespace(self):
        # the init runs its steps in another order there (go first)
        for name in self.STEPS[:self.STEPS.index("network") + 1]:
            with self.subTest(step=name):
                env = dict(os.environ, STEPD_TEST_FAIL_STEP=name)
                r = self.stepd_exec(["/bin/true"], "--userns", env=env)
                self.assertEqual(r.rc, 125, r)
                self.assertEqual(r.result["reason"], "setup-failed", r)
                self.assertEqual(r.result["setup_step"], name, r)
                self.assertEqual(r.result["setup_errno"], 125)  # ECANCELED
        self.assertEqual(os.listdir(os.path.join(self.state, "exec")), [])

    def test_missing_command_reports_exec_enoent(self):
        r = self.stepd_exec(["/no/such/program"])
        self.assertEqual(r.result["reason"], "setup-failed", r)
        self.assertEqual(r.result["setup_step"], "exec")
        self.assertEqual(r.result["setup_errno"], 2)
        self.assertIn("/no/such/program", r.result["message"])

    def test_bad_options_are_usage_errors(self):
        for opts in (["--memory", "lots"], ["--net", "wifi"], ["--project", "../x"],
                     ["--bind", "relative:/x"], ["--seccomp", "/no/such.json"]):
            with self.subTest(opts=opts):
                r = self.stepd_exec(["/bin/true"], *opts)
                self.assertEqual(r.rc, 125, r)
                self.assertIn("stepd exec:", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
