"""With BENCH_PROFILE_ALL=<folder> (bench/support.py's `service_process` puts this folder on PYTHONPATH), a service
and its relay child run under cProfile, every thread apart (the exporter's included): one file for each,
`<folder>/<who>-<pid>-<thread>.prof`, written when the thread ends and, for the main thread, when the process
exits (SIGTERM ends a service here through sys.exit, so the exit handlers run). Deterministic call counts: two
runs' profiles compared say which calls one made that the other did not (`python -m bench.profile_diff`;
bench/README.md, issue 14's thirteenth measurement)."""

import atexit
import cProfile
import os
import signal
import sys
import threading

_command = " ".join(getattr(sys, "orig_argv", []))
_folder = os.environ.get("BENCH_PROFILE_ALL")
if _folder and ("services." in _command or "relay_process" in _command):
    _who = "relay" if "relay_process" in _command else "service"
    os.makedirs(_folder, exist_ok=True)
    _main = cProfile.Profile()
    _run = threading.Thread.run

    def _profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        profile.enable()
        try:
            _run(self)
        finally:
            profile.disable()
            profile.dump_stats(f"{_folder}/{_who}-{os.getpid()}-{self.name}.prof")

    def _dump() -> None:
        _main.disable()
        _main.dump_stats(f"{_folder}/{_who}-{os.getpid()}-main.prof")

    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    atexit.register(_dump)
    if _who == "service":  # uvicorn re-raises SIGTERM after its shutdown; ending through sys.exit runs atexit
        signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    _main.enable()
