import sys

from plumbing.entry import run_main

sys.exit(run_main("decision.cli", "callback-decision"))
