"""`python -m bench`: see bench/scenarios.py."""

from bench.scenarios import main

main()
