"""``python -m benchmarks``: run every row of the speed table and print it."""
import sys

from .run import main

sys.exit(main())
