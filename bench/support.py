"""What the benchmark scripts share: a service as its own process on the benchmark's broker and database."""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from harness.builders import ACCOUNT_DAY
from harness.infra import ROOT, Infra


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and every live descendant (a service's relay child, say), from /proc:
    what a process spent, whatever else the machine did meanwhile (its throughput swings with that, this does not)."""
    return sum(spent for _, _, spent, _ in family(pid))


def kernel_counters(pid: int) -> dict[str, float]:
    """What the kernel counted for a process and its live descendants, summed: user and system CPU seconds, minor
    page faults, its threads' voluntary (waits: a socket, a lock, a timer) and involuntary (preempted) context
    switches, and resident memory. Differences of two readings show work an instruction count misses: the
    kernel's, and waking up."""
    tick = os.sysconf("SC_CLK_TCK")
    found = dict.fromkeys(("user_seconds", "system_seconds", "minor_faults", "voluntary_switches",
                           "involuntary_switches", "resident_bytes"), 0.0)
    for member, _, _, _ in family(pid):
        try:
            fields = _stat_fields(Path(f"/proc/{member}/stat"))
            statuses = [status.read_text() for status in Path(f"/proc/{member}/task").glob("*/status")]
        except OSError:  # gone meanwhile
            continue
        found["user_seconds"] += int(fields[11]) / tick
        found["system_seconds"] += int(fields[12]) / tick
        found["minor_faults"] += int(fields[7])
        for status in statuses:
            for line in status.splitlines():
                name, _, value = line.partition(":")
                if name == "VmRSS" and status is statuses[0]:  # the process's, shared by its threads
                    found["resident_bytes"] += int(value.split()[0]) * 1024
                elif name in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    found["voluntary_switches" if name[0] == "v" else "involuntary_switches"] += int(value)
    return found


def family(pid: int) -> list[tuple[int, int, float, str]]:
    """(pid, parent pid, CPU seconds, command line) of `pid` and its live descendants."""
    rows = list(_processes())
    parents = {child: parent for child, parent, _, _ in rows}
    return [row for row in rows if _descends(row[0], pid, parents)]


def _processes() -> Iterator[tuple[int, int, float, str]]:
    """(pid, parent pid, CPU seconds, command line) of every live process."""
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat)
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        yield int(stat.parent.name), int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmdline


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after "(comm)", which may hold spaces: the parent pid at 1, minor faults at
    7, user and system ticks at 11 and 12."""
    return stat.read_text().rpartition(")")[2].split()


def cpu_by_part(*service_pids: int) -> dict[str, float]:
    """CPU seconds spent so far by each part of a benchmark on this machine: the service (its copies, with their
    children), the broker (the Kafka JVM), the database (every PostgreSQL process), this driver, and everything
    else. Differences of two readings say where a run's CPU went; the parts' sum against the machine's two cores
    is what limits it."""
    rows = list(_processes())
    parents = {pid: parent for pid, parent, _, _ in rows}
    parts = dict.fromkeys(("service", "broker", "database", "driver", "other"), 0.0)
    for pid, _, spent, cmdline in rows:
        if any(_descends(pid, service, parents) for service in service_pids):
            part = "service"
        elif pid == os.getpid():
            part = "driver"
        elif "kafka.Kafka" in cmdline:
            part = "broker"
        elif cmdline.startswith(("postgres", "/usr/lib/postgresql")) or "/postgres " in cmdline:
            part = "database"
        else:
            part = "other"
        parts[part] += spent
    return parts


def cpu_split_ms(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """Milliseconds of CPU per unit of work, by part, between two `cpu_by_part` readings."""
    return {part: round((after[part] - before[part]) * 1000 / count, 3) for part in before}


def own_cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of the process alone (without its relay child, if it has one): the code's own
    work, and the kernel's on its behalf (mostly its sockets to the broker and the database)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = parents.get(pid, 0)
    return pid == ancestor


def sampling_profiler(pid: int, variable: str = "BENCH_PYSPY", suffix: str = "") -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=<file> (or the `variable` a phase names): py-spy (not a project dependency: `pip install
    py-spy`, run as root or with ptrace allowed) samples a service while a benchmark's timed phase runs, into
    <file><suffix> as collapsed stacks."""
    out = os.environ.get(variable)
    if not out:
        return None
    out += suffix
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))  # on PATH, or in the venv
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--nonblocking", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def native_profiler(*pids: int) -> subprocess.Popen[bytes] | None:
    """With BENCH_PERF=<file>: Linux `perf` (Debian's `linux-perf`, not a project dependency) samples the services and
    their children on the software `cpu-clock` event (this VM has no hardware counters) while the timed phase runs,
    kernel included, into <file>: where the time goes by C function (`perf report -i <file> --sort pid,sym`), which
    callgrind's instruction counts cannot say (a cache miss costs time, not instructions)."""
    out = os.environ.get("BENCH_PERF")
    if not out:
        return None
    members = ",".join(str(member) for pid in pids for member, _, _, _ in family(pid))
    return subprocess.Popen(["perf", "record", "-F", "1999", "-e", "cpu-clock", "-p", members, "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples when interrupted
        spy.wait(timeout=60)


PROFILE_ALL = ROOT / "bench" / "profile_all"


@contextlib.asynccontextmanager
async def service_process(name: str, infra: Infra, port: int,
                          overrides: Mapping[str, str] | None = None) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`python -m services.<name>` at log level INFO (as in production), ready when its /ready answers 200 and its
    relay leads. `overrides` go over its environment (another database, consumer group, tracing)."""
    env = {"POSTLOAN_LOG_LEVEL": "INFO", **os.environ,
           **{f"{name.upper()}_{k.upper()}": v for k, v in infra.kafka_settings(name).items()},
           f"{name.upper()}_DATABASE_URL": infra.service_database_url(name), f"{name.upper()}_HTTP_PORT": str(port),
           "POSTLOAN_LOG_JSON": "true", "POSTLOAN_CLOCK_START": ACCOUNT_DAY.isoformat(), "POSTLOAN_DEMO_MODE": "true",
           # BENCH_PROFILE_ALL: every thread of the service and its relay child under cProfile (bench/profile_all)
           "PYTHONPATH": f"{ROOT}:{PROFILE_ALL}" if os.environ.get("BENCH_PROFILE_ALL") else str(ROOT),
           **(overrides or {})}
    # `python -m services.<name>`, or under cProfile with BENCH_PROFILE=<file> (bench/profiled.py runs the module)
    launcher = ["-m", "bench.profiled", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else ["-m"]
    counted = callgrind_dir()
    valgrind = [] if counted is None else [  # BENCH_CALLGRIND: the service and its relay child under callgrind
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
        f"--callgrind-out-file={counted}/callgrind.%p"]
    log = open(ROOT / ".local" / f"bench-{name}-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*valgrind, sys.executable, *launcher, f"services.{name}"], cwd=ROOT,
                            env=env if counted is None else {**env, **CALLGRIND_ENV},
                            stdout=log, stderr=log)
    try:
        await wait_ready(port, seconds=60 if counted is None else 1200)
        await wait_leading(port, seconds=60 if counted is None else 1200)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30 if counted is None else 600)
        log.close()


# Under callgrind, glibc's memcpy copies anything over a few KiB with `rep movsb`, which valgrind counts as one
# instruction a byte: a 1 MiB copy counted 1,048,576 instructions, where the vector loop it uses below that size
# counts about 0.1 a byte, near what either costs on the processor. Large copies (asyncpg's growing COPY buffer,
# aiokafka's produce requests) then outweighed whole functions of Python. So every counted run copies with the
# vector loop (bench/README.md, issue 12, eighth pass).
CALLGRIND_ENV = {"GLIBC_TUNABLES": "glibc.cpu.x86_rep_movsb_threshold=1099511627776"}


def callgrind_dir() -> Path | None:
    """With BENCH_CALLGRIND=<folder>, a benchmark's service runs under valgrind's callgrind (Debian's `valgrind`, not
    a project dependency), counting instructions only while `counting_instructions` is on: what the service and
    its relay child executed for a phase, the same whatever else the machine does (time swings here by up to 2x)."""
    path = _callgrind_folder()
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("callgrind.*"):
        old.unlink()
    return path


def _callgrind_folder() -> Path | None:
    folder = os.environ.get("BENCH_CALLGRIND")
    return Path(folder).resolve() if folder else None


@contextlib.contextmanager
def counting_instructions() -> Iterator[None]:
    """Callgrind's counting on for every process it runs, for the block (nothing without BENCH_CALLGRIND)."""
    if _callgrind_folder() is None:
        yield
        return
    subprocess.run(["callgrind_control", "--instr=on"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["callgrind_control", "--instr=off"], check=True, capture_output=True)


def instructions_counted() -> dict[str, int] | None:
    """The instructions counted, by program (`python -m <module>`: the service, its relay child), from the callgrind
    files (written when the processes have ended)."""
    folder = _callgrind_folder()
    return None if folder is None else callgrind_totals(folder)


def callgrind_totals(folder: Path) -> dict[str, int]:
    """The instructions counted in the callgrind files of `folder`, by program (the last word of its command)."""
    counted: dict[str, int] = {}
    for path in folder.glob("callgrind.*"):
        program, total = "?", 0
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("cmd:"):
                program = line.split()[-1]
            elif line.startswith("totals:"):  # (the header's "summary:" is 0 while counting is off at the start)
                total = int(line.split()[1])
        counted[program] = counted.get(program, 0) + total
    return counted


class Exports:
    """What a `discarding_otlp` endpoint received: each export's body, kept (a run's are a few MiB) and read once the
    run is over, so that counting them costs the run nothing."""

    def __init__(self, bodies: list[bytes] | None = None) -> None:
        self.endpoint = ""
        self.bodies = [] if bodies is None else bodies

    def spans(self) -> int:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        found = 0
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            found += sum(len(scoped.spans) for resource in request.resource_spans for scoped in resource.scope_spans)
        return found


@contextlib.contextmanager
def discarding_otlp() -> Iterator[Exports]:
    """An OTLP/HTTP endpoint (its URL for OTEL_EXPORTER_OTLP_ENDPOINT in `.endpoint`) that answers every export 200
    and only keeps the bodies: a traced service pays for making and exporting its spans, and the benchmark for
    nothing more."""
    exports = Exports()

    class Discard(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            exports.bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    exports.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield exports
    finally:
        server.shutdown()
        server.server_close()


async def scrape(port: int) -> list[Sample]:
    """Every sample on the /metrics of the service on `port`, read once (`values` picks from them)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return [sample for metric in text_string_to_metric_families(text) for sample in metric.samples]


def values(samples: list[Sample], name: str, **labels: str) -> list[float]:
    """The values of the samples `name` (those with `labels`, if given)."""
    return [sample.value for sample in samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())]


async def metric_values(port: int, name: str, **labels: str) -> list[float]:
    """The values of the samples `name` on the /metrics of the service on `port` (those with `labels`, if given)."""
    return values(await scrape(port), name, **labels)


async def batches_consumed(port: int) -> int:
    """How many batches the service on `port` has consumed so far (its postloan_batch_duration_seconds count): with
    the records of a phase, the records per batch. CPU per record falls as batches grow (a batch's statements and
    commit are shared), and batch size follows how far the service is behind: a run's figures need both."""
    return int(sum(await metric_values(port, "postloan_batch_duration_seconds_count")))


async def wait_leading(port: int, seconds: float) -> None:
    """Until the service's relay (its child process, by default) leads: a relay still starting must not be timed."""
    for _ in range(int(seconds / 0.2)):
        if 1 in await metric_values(port, "postloan_relay_leader"):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the relay of the service on port {port} did not lead")


async def wait_ready(port: int, seconds: float = 60) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(int(seconds / 0.2)):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the service on port {port} did not become ready")
