import sys

from tui.bench import main

sys.exit(main())
