"""The keys of the store's ``source_state``: which revision is adopted, held, rejected or
approved, the head last seen, and the re-verification request and its answer.

``revisions.py`` writes them; the read side (``homeport status``, ``approve``, the status
page) reads them. They live apart from ``revisions.py`` so that a read does not import the
sources, git and manifest validation that adopting a revision needs.
"""

from __future__ import annotations

APPROVALS = "approvals"
ADOPTED = "adopted"
LAST_SEEN = "last_seen"
HELD = "held"
REJECTED = "rejected"
REVERIFY = "reverify"
REVERIFIED = "reverified"
