"""What the benchmarks share: loopback ports, the server under test as a process group of
its own, and CPU figures read from /proc.

Only 127.0.0.1 is ever targeted. Standard library only, so that every bench can use it."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # the benchmarks only ever target loopback
REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
CSE_RN = "cse-in"
ADMIN = "CAdmin"


class BenchError(RuntimeError):
    pass


# ------------------------------------------------------------------------------ ports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# -------------------------------------------------------------------------------- CPU


@dataclass(frozen=True)
class ProcStat:
    """The figures of /proc/<pid>/stat that the benchmarks use."""

    ppid: int
    comm: str
    start: int  # start time in ticks since boot: with the pid, names one process
    cpu: float  # user + system CPU seconds
    reaped: float  # user + system CPU seconds of the children it has waited for
    rss_pages: int


def read_stat(pid: int) -> ProcStat | None:
    """The figures of a live process; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes().decode("ascii", "replace")
    except OSError:
        return None
    lparen, rparen = raw.find("("), raw.rfind(")")
    f = raw[rparen + 2 :].split()
    # f[0] is stat field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16,
    # cstime 17, starttime 22, rss 24.
    return ProcStat(
        ppid=int(f[1]),
        comm=raw[lparen + 1 : rparen],
        start=int(f[19]),
        cpu=(int(f[11]) + int(f[12])) / CLK_TCK,
        reaped=(int(f[13]) + int(f[14])) / CLK_TCK,
        rss_pages=int(f[21]),
    )


def all_stats() -> dict[int, ProcStat]:
    """Every live process of the machine by pid."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    return stats


def process_tree(stats: dict[int, ProcStat], root: int) -> list[int]:
    """`root` and all its live descendants (a server's supervisor, workers and helpers)."""
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        children.setdefault(stat.ppid, []).append(pid)
    tree: list[int] = []
    todo = [root]
    while todo and len(tree) < 10_000:
        pid = todo.pop()
        if pid in stats:
            tree.append(pid)
            todo.extend(children.get(pid, ()))
    return tree


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process."""
    stat = read_stat(pid)
    if stat is None:
        raise BenchError(f"process {pid} is gone")
    return stat.cpu


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent neither idle nor waiting for I/O since boot
    (/proc/stat; guest time is already counted in user and nice)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    guest = sum(ticks[8:10])
    return (sum(ticks) - idle - guest) / CLK_TCK


def wait_for_quiet(max_wait: float, threshold: float) -> float:
    """Wait (at most max_wait seconds) until the machine's busy CPU over one second is
    below `threshold` cores; the server is idle between phases. Returns the last load."""
    deadline = time.monotonic() + max_wait
    while True:
        t0, busy0 = time.monotonic(), machine_busy_seconds()
        time.sleep(1.0)
        load = (machine_busy_seconds() - busy0) / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= deadline:
            return load


# ----------------------------------------------------------------------------- server


def serve_command(
    port: int,
    db_url: str,
    *extra: str,
    cse_id: str = "id-in",
    workers: int = 1,
    log_level: str = "warning",
) -> list[str]:
    """`python -m cse serve` on the loopback port, with the benchmarks' CSE and admin."""
    return [
        sys.executable, "-m", "cse", "serve",
        "--host", HOST, "--port", str(port), "--db", db_url,
        "--cse-id", cse_id, "--cse-rn", CSE_RN, "--admin-originator", ADMIN,
        "--workers", str(workers), "--log-level", log_level,
        *extra,
    ]  # fmt: skip


def bare_csms_command(
    ocpp_port: int, speedups: bool = False, control_port: int | None = None
) -> list[str]:
    """`bench/bare_csms.py` on the loopback port: the central system with no oneM2M side."""
    command = [sys.executable, str(REPO / "bench" / "bare_csms.py"),
               "--host", HOST, "--port", str(ocpp_port)]  # fmt: skip
    if speedups:
        command.append("--speedups")
    if control_port is not None:
        command += ["--control-port", str(control_port)]
    return command


def cse_answers(port: int) -> bool:
    """True when the CSEBase on the port answers a retrieve by the admin with 200."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        headers = {"X-M2M-Origin": ADMIN, "X-M2M-RI": "ready", "X-M2M-RVI": "3"}
        conn.request("GET", f"/{CSE_RN}", headers=headers)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def bench_env() -> dict[str, str]:
    """The environment of a server under test: this checkout's code, none of the caller's
    CITYCSE_ settings (the command line says everything)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCSE_")}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


class ServerProcess:
    """A server under test in its own process group, its output in `log_path`; started
    when `ready()` says so."""

    def __init__(
        self, command: list[str], log_path: Path, ready: Callable[[], bool], cwd: Path = REPO
    ) -> None:
        self.command = command
        self.log_path = log_path
        self.ready = ready
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def start(self, timeout: float = 90.0) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                env=bench_env(), start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise BenchError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT (a graceful shutdown), then SIGKILL to whatever is left of the group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # start_new_session: it leads the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
