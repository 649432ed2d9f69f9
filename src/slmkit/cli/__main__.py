"""`python -m slmkit.cli ...`: the same as the `slmkit` console script."""

from slmkit.cli import main

main()
