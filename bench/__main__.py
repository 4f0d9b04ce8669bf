"""``python -m bench [--quick] [--only NAME,...]``: run the benchmarks (``make bench``)."""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
