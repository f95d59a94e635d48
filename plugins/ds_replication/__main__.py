import sys

from ds_replication.cli import main

sys.exit(main())
