"""CPU time and lock waits of a service under load, for the PostgreSQL scaling bench.

`Watch(db_url, root_pid)` is started just before a load run and stopped right after it:

- CPU seconds (user + sys, from /proc/<pid>/stat) of the service's processes — the supervisor
  (`root_pid`), its worker processes and multiprocessing's resource tracker — and of the
  PostgreSQL backends whose `pg_stat_activity.datname` is the bench database (client backends and
  autovacuum workers), plus the cluster's shared processes (walwriter, checkpointer, background
  writer, ...: not attributable to one database, other users of the server count there too);
- the reaped children of this process (the load generators: `os.times()`), and the whole
  machine's busy time from /proc/stat, to see whether the cores were saturated;
- lock contention: `pg_stat_activity` polled every `interval` seconds for backends of the bench
  database; those with wait_event_type = 'Lock' are counted (samples with a waiter, the most
  waiting at once) with the lock type and mode they wait for (`pg_locks`, not granted).
  Other wait event types (LWLock, IO, ...) of active backends are tallied as well.

Linux only (/proc); PostgreSQL must run on this machine for its backends' CPU to be read (if it
does not, those figures are reported as missing, the lock sampling still works).
No dependency beyond asyncpg (psutil is not installed in .venv).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---- /proc ----------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, start time in ticks, user + sys CPU seconds) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    rest = raw[raw.rindex(b")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces
    # field 4 ppid -> rest[1]; 14 utime -> rest[11]; 15 stime -> rest[12]; 22 starttime -> rest[19]
    return int(rest[1]), int(rest[19]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def descendants(root: int) -> list[int]:
    """`root` and every process below it (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    total = sum(vals[:8])
    idle = vals[3] + vals[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


def service_group(pid: int, root: int) -> str:
    if pid == root:
        return "supervisor"
    cmd = cmdline(pid)
    if "resource_tracker" in cmd:
        return "supervisor"  # multiprocessing's helper process: supervisor overhead
    return "workers"


# ---- the watch ------------------------------------------------------------------------

GROUPS = ("workers", "supervisor", "pg_backends", "pg_shared")


@dataclass
class _Tracked:
    group: str
    first: float
    last: float


@dataclass
class Figures:
    """What one Watch measured between start() and stop()."""
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0.0))
    load_cpu: float = 0.0          # reaped children of this process (the load generators)
    machine_busy: float = 0.0      # CPU seconds of all cores
    cores: int = os.cpu_count() or 1
    pg_cpu_readable: bool = True
    worker_pids: set[int] = field(default_factory=set)
    worker_restarts: int = 0
    pg_backends_seen: int = 0
    samples: int = 0
    lock_samples: int = 0          # samples with at least one backend waiting on a heavyweight lock
    lock_waiter_samples: int = 0   # sum over samples of the number of waiting backends
    max_lock_waiters: int = 0
    lock_kinds: Counter = field(default_factory=Counter)    # "advisory ExclusiveLock" -> waiter-samples
    other_waits: Counter = field(default_factory=Counter)   # "LWLock:WALWrite" -> active-backend-samples
    active_backend_samples: int = 0
    sample_errors: int = 0
    commits: int = 0               # pg_stat_database of the bench db, the watch's own queries left out
    rollbacks: int = 0

    @property
    def service_cpu(self) -> float:
        return self.cpu["workers"] + self.cpu["supervisor"]

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu.values())


def _asyncpg_dsn(sqlalchemy_url: str) -> dict:
    from sqlalchemy.engine import make_url

    u = make_url(sqlalchemy_url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 5432, "user": u.username,
            "password": u.password, "database": u.database}


_ACTIVITY = """
SELECT a.pid, a.backend_type, a.state, a.wait_event_type, a.wait_event,
       CASE WHEN a.wait_event_type = 'Lock' THEN
            (SELECT string_agg(l.locktype || ' ' || l.mode, ', ' ORDER BY l.locktype)
               FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) END AS waiting_for
  FROM pg_stat_activity a
 WHERE a.datname = $1 AND a.pid <> pg_backend_pid()
"""
_SHARED = "SELECT pid, backend_type FROM pg_stat_activity WHERE datname IS NULL"
_XACTS = "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1"


class Watch:
    """Measure the service rooted at `root_pid` and the bench database's backends.

        w = Watch(db_url, proc.pid); w.start(); ...load...; figures = w.stop()
    """

    def __init__(self, db_url: str, root_pid: int, interval: float = 0.1, rescan_every: int = 10) -> None:
        self.dsn = _asyncpg_dsn(db_url)
        self.root = root_pid
        self.interval = interval
        self.rescan_every = rescan_every
        self.fig = Figures()
        self._tracked: dict[tuple[int, int], _Tracked] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._t0 = self._busy0 = self._children0 = 0.0

    # -- process bookkeeping (sampler thread only) --
    def _see(self, pid: int, group: str, baseline: bool) -> None:
        if group.startswith("pg") and not self.fig.pg_cpu_readable:
            return
        st = proc_stat(pid)
        if st is None:
            return  # gone already (a backend that closed between the query and the read)
        key = (pid, st[1])
        t = self._tracked.get(key)
        if t is None:
            # present when the watch started: count from now; born later: all its CPU is ours
            self._tracked[key] = _Tracked(group, st[2] if baseline else 0.0, st[2])
            if group == "workers":
                if not baseline and self.fig.worker_pids:
                    self.fig.worker_restarts += 1
                self.fig.worker_pids.add(pid)
            elif group == "pg_backends":
                self.fig.pg_backends_seen += 1
        else:
            t.last = st[2]

    def _scan_service(self, baseline: bool) -> None:
        for pid in descendants(self.root):
            self._see(pid, service_group(pid, self.root), baseline)

    def _refresh_known(self) -> None:
        for (pid, start), t in self._tracked.items():
            st = proc_stat(pid)
            if st is not None and st[1] == start:
                t.last = st[2]

    async def _sample(self, conn, baseline: bool) -> None:  # noqa: ANN001
        rows = await conn.fetch(_ACTIVITY, self.dsn["database"])
        f = self.fig
        f.samples += 1
        waiters = 0
        for r in rows:
            self._see(r["pid"], "pg_backends", baseline)
            if r["state"] != "active":
                continue
            f.active_backend_samples += 1
            if r["wait_event_type"] == "Lock":
                waiters += 1
                f.lock_kinds[r["waiting_for"] or f"({r['wait_event']}: granted before pg_locks was read)"] += 1
            elif r["wait_event_type"] and r["wait_event_type"] != "Client":
                f.other_waits[f"{r['wait_event_type']}:{r['wait_event']}"] += 1
        if waiters:
            f.lock_samples += 1
            f.lock_waiter_samples += waiters
            f.max_lock_waiters = max(f.max_lock_waiters, waiters)

    async def _shared(self, conn, baseline: bool) -> None:  # noqa: ANN001
        rows = await conn.fetch(_SHARED)
        if baseline:
            # PostgreSQL on another machine or in a container: its pids are not ours to read
            self.fig.pg_cpu_readable = any("postgres" in cmdline(r["pid"]) for r in rows)
        for r in rows:
            self._see(r["pid"], "pg_shared", baseline)

    async def _run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(**self.dsn)
        try:
            x0 = await conn.fetchrow(_XACTS, self.dsn["database"])
            # baseline: everything that exists now counts from its current CPU time
            self._scan_service(baseline=True)
            await self._shared(conn, baseline=True)
            await self._sample(conn, baseline=True)
            self._t0 = time.monotonic()
            self._busy0 = machine_busy_seconds()[0]
            ch = os.times()
            self._children0 = ch.children_user + ch.children_system
            self._ready.set()
            i = 0
            while not self._stop.wait(self.interval):
                i += 1
                try:
                    self._refresh_known()
                    if i % self.rescan_every == 0:
                        self._scan_service(baseline=False)
                    await self._sample(conn, baseline=False)
                except Exception:  # noqa: BLE001 - one failed sample must not end the measurement
                    self.fig.sample_errors += 1
            # final readings
            self._scan_service(baseline=False)
            await self._shared(conn, baseline=False)
            await self._sample(conn, baseline=False)
            self._refresh_known()
            f = self.fig
            f.wall = time.monotonic() - self._t0
            f.machine_busy = machine_busy_seconds()[0] - self._busy0
            ch = os.times()  # the load processes have been reaped by now
            f.load_cpu = ch.children_user + ch.children_system - self._children0
            # backends publish their transaction counts within ~1 s of going idle (PostgreSQL 15)
            await asyncio.sleep(1.2)
            x1 = await conn.fetchrow(_XACTS, self.dsn["database"])
            own = self.fig.samples + 2 + 1  # activity samples, two shared-process reads, the first _XACTS
            self.fig.commits = max(0, x1["xact_commit"] - x0["xact_commit"] - own)
            self.fig.rollbacks = x1["xact_rollback"] - x0["xact_rollback"]
        finally:
            await conn.close()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - reported by start()/stop()
            self._error = exc
            self._ready.set()

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._thread_main, name="pgstats-watch", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise RuntimeError(f"pgstats: could not start sampling: {self._error!r}") from self._error
        return self

    def stop(self) -> Figures:
        assert self._thread is not None
        self._stop.set()
        self._thread.join(30)
        f = self.fig
        for t in self._tracked.values():
            f.cpu[t.group] += max(0.0, t.last - t.first)
        if self._error:
            raise RuntimeError(f"pgstats: sampling failed: {self._error!r}") from self._error
        return f


# ---- report ---------------------------------------------------------------------------

_ROWS = (
    ("worker processes", lambda f: f.cpu["workers"]),
    ("supervisor + resource tracker", lambda f: f.cpu["supervisor"]),
    ("PostgreSQL backends (bench db)", lambda f: f.cpu["pg_backends"]),
    ("workers + their backends", lambda f: f.cpu["workers"] + f.cpu["pg_backends"]),
    ("PostgreSQL shared (wal, ckpt...)", lambda f: f.cpu["pg_shared"]),
    ("service total (all of the above)", lambda f: f.total_cpu),
    ("load generators", lambda f: f.load_cpu),
)


def cpu_table(figs: dict[int, Figures], messages: dict[int, int]) -> list[str]:
    """CPU ms per message for each N side by side, with each N's ratio to the first N."""
    ns = sorted(figs)
    base = ns[0]
    head = f"  {'CPU ms per message (user+sys)':<34}" + "".join(f"{'N=' + str(n):>9}" for n in ns)
    head += "".join(f"{f'N={n}/N={base}':>10}" for n in ns[1:])
    out = [head]
    out.append(f"  {'messages processed in the window':<34}" + "".join(f"{messages[n]:>9}" for n in ns))
    for label, get in _ROWS:
        per = {n: 1000 * get(figs[n]) / max(1, messages[n]) for n in ns}
        if label.startswith("PostgreSQL") and not all(figs[n].pg_cpu_readable for n in ns):
            out.append(f"  {label:<34}" + "".join(f"{'n/a':>9}" for n in ns))
            continue
        row = f"  {label:<34}" + "".join(f"{per[n]:>9.3f}" for n in ns)
        row += "".join(f"{per[n] / per[base]:>9.2f}x" if per[base] > 0 else f"{'-':>10}" for n in ns[1:])
        out.append(row)
    out.append(f"  {'cores busy: service':<34}"
               + "".join(f"{figs[n].total_cpu / figs[n].wall:>9.2f}" for n in ns)
               + f"   (window {', '.join(f'{figs[n].wall:.1f}' for n in ns)} s)")
    out.append(f"  {'cores busy: whole machine':<34}"
               + "".join(f"{figs[n].machine_busy / figs[n].wall:>9.2f}" for n in ns)
               + f"   (of {figs[base].cores}; service + load + anything else running)")
    out.append(f"  {'PostgreSQL commits per 100 msgs':<34}"
               + "".join(f"{100 * figs[n].commits / max(1, messages[n]):>9.1f}" for n in ns)
               + "   (fewer = bigger group-commit batches)")
    out.append(f"  {'PostgreSQL rollbacks per 100 msgs':<34}"
               + "".join(f"{100 * figs[n].rollbacks / max(1, messages[n]):>9.1f}" for n in ns)
               + "   (read-only transactions ended by ROLLBACK count too)")
    return out


def lock_lines(figs: dict[int, Figures]) -> list[str]:
    out = []
    for n in sorted(figs):
        f = figs[n]
        kinds = ", ".join(f"{k} x{v}" for k, v in f.lock_kinds.most_common()) or "none"
        other = ", ".join(f"{k} x{v}" for k, v in f.other_waits.most_common(4)) or "none"
        avg_active = f.active_backend_samples / max(1, f.samples)
        out.append(f"  N={n}: {f.samples} samples of {f.pg_backends_seen} backends, {avg_active:.1f} active on average;"
                   f" Lock waits in {f.lock_samples} samples ({f.lock_waiter_samples} waiter-samples,"
                   f" max {f.max_lock_waiters} at once): {kinds}")
        out.append(f"       other waits of active backends (samples): {other}"
                   + (f"; {f.sample_errors} failed samples" if f.sample_errors else "")
                   + (f"; worker restarts {f.worker_restarts}" if f.worker_restarts else ""))
    return out
