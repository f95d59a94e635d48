"""`PYTHONPATH=plugins python -m ds_replication check-config FILE`."""

import sys

from ds_replication.cli import main

sys.exit(main())
