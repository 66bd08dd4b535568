"""`python -m devtools.report`."""

import sys

from devtools.report.cli import main

sys.exit(main())
