"""``python -m homeport``: the same as the ``homeport`` command (used by git hooks)."""

from homeport.cli.main import main

main()
