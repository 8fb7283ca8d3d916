"""Profile one full export with pyinstrument (in-process executor, so every step is in the profile).

    python -m benchmarks.profile [--scale typical] [--html out.html]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.run import run_full, source_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="typical")
    parser.add_argument("--html", help="write the profile as HTML here instead of text to stdout")
    args = parser.parse_args()
    from pyinstrument import Profiler

    source = str(source_for(args.scale))
    profiler = Profiler(interval=0.005)
    with profiler:
        result = run_full(source)
    print(f"{args.scale}: {result['seconds']:.2f} s, success={result['success']}", file=sys.stderr)
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    else:
        print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
