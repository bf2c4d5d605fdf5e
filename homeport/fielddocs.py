"""Whether the manifest models read their fields' docstrings as descriptions.

The descriptions serve the schema, the manifest reference and ``homeport explain``; never
validation. Reading them (pydantic's ``use_attribute_docstrings``) parses the source of
every model class at import, about a fifth of a small push's pre-receive hook, so the
hook turns them off before it imports ``homeport.kinds``. Every other process keeps them.
"""

WANTED = True
