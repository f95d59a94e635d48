"""`python -m ds_replication check-config FILE`, the same as the `ds-replication` command."""

import sys

from ds_replication.cli import main

# Airflow's plugin manager loads every file under plugins/, this one under the name
# "__main__" too: run only when started as `python -m ds_replication`.
if __name__ == "__main__" and __package__ == "ds_replication":
    sys.exit(main())
