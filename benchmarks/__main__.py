"""`python -m benchmarks`: see `benchmarks.runner`."""

from __future__ import annotations

import sys

from benchmarks.runner import main

sys.exit(main(sys.argv[1:]))
