"""`python -m jetbridge` is the `jetbridge` command."""

from jetbridge._entry import main

main()
