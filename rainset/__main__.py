"""``python -m rainset``: the command line."""

from rainset.cli import main

main()
