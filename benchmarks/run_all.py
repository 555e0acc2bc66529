"""Run every performance benchmark in sequence, each in its own subprocess.

    python benchmarks/run_all.py [--quick] [--output FILE] [--only NAME ...]

``--quick`` is passed to every script: the whole run then takes about 3 minutes on
the 2-core development machine. The full run is long: without ``scale.py`` it took
29 minutes there (``time_to_quality.py`` 11, most of it the proposal's pseudo-code at
d = 384; ``per_iteration.py`` about 16, its N = 1000 fits; ``prediction.py`` under 1;
``parallel.py`` 4-5); ``scale.py`` adds the N = 10,000 fit. Each script writes its own
section of the output file (default ``docs/benchmarks.md``).
"""

import subprocess
import sys
import time
from pathlib import Path

from _bench_utils import parser

HERE = Path(__file__).resolve().parent
SCRIPTS = ["time_to_quality", "per_iteration", "prediction", "scale", "parallel"]


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=SCRIPTS, default=SCRIPTS)
    args = p.parse_args()
    failed = []
    t_all = time.perf_counter()
    for name in args.only:
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--output", str(args.output)]
        if args.quick:
            cmd.append("--quick")
        print(f"\n===== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE)
        print(
            f"===== {name}: exit {code}, {time.perf_counter() - t0:.0f} s", flush=True
        )
        if code:
            failed.append(name)
    print(
        f"\nall done in {time.perf_counter() - t_all:.0f} s; tables written to "
        f"{Path(args.output).resolve()}"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
