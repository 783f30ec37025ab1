"""Lets ``python -m pytask`` behave exactly like the ``pytask`` console script."""

from pytask.cli import main

main()
