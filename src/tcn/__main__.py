import sys

from tcn.cli import main

sys.exit(main())
