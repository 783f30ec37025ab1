"""``python -m scaffold``: see :mod:`scaffold.cli`."""

from scaffold.cli import main

main()
