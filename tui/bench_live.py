"""`python -m tui.bench_live`, the documented name of the live benchmark in tui/bench/live.py."""

import sys

from tui.bench.live import main

sys.exit(main())
