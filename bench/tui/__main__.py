import sys

from bench.tui import main

sys.exit(main())
