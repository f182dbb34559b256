"""`python -m rundiff` runs the command line."""

from rundiff.cli import main

main()
