"""``python -m rainset.cli``: the command line."""

from rainset.cli import main

main()
