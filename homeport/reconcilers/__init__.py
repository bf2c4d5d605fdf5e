"""Per-kind reconcilers: ``observe`` / pure ``plan`` / ``act`` (see ``base.py``).

One module per kind; they never import each other (import-linter checks it).
"""
