"""``python -m equigen.conformance [--quick|--full] [--only MODEL ...]``."""

import sys

from equigen.conformance.report import main

sys.exit(main())
