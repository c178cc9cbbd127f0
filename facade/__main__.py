import sys

from facade.cli import main

sys.exit(main())
