"""``python -m jetactions``: the ``jetactions`` command."""

from jetactions.cli import main

main()
