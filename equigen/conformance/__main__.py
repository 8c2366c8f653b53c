"""``python -m equigen.conformance [--quick|--full] [--only MODEL ...]``."""

import sys

from equigen.conformance.report import main

if __name__ == "__main__":
    sys.exit(main())
