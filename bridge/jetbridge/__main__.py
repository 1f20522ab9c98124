"""`python -m jetbridge` is the `jetbridge` command."""

from jetbridge.cli import main

main()
