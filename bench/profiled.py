"""`python -m bench.profiled <out> <module>`: runs `<module>` as `__main__` under cProfile and writes the profile to
`<out>` when the process is told to stop.

`python -m cProfile -o` writes only when the module returns, but uvicorn re-raises the SIGTERM it caught once the
server has shut down, and the default handler then ends the process before the profile is written. Here SIGTERM's
handler (which uvicorn restores before re-raising) writes the profile and exits.
"""

import cProfile
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    profile = cProfile.Profile()

    def stop(signum: int, _frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(out)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    sys.argv = [module, *sys.argv[3:]]
    profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
