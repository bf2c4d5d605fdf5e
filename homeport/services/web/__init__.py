"""The daemon's read-only status page, ``/healthz`` and ``/readyz`` (docs/operations.md).

``app`` is the Starlette application: the page (server-rendered by Jinja2 with autoescape,
so it works with JavaScript off), its live fragment streamed by server-sent events (the
page's only script swaps it in, so a failover shows within a second), a JSON twin of the
page, and the two probes. GET and HEAD only: nothing on it changes anything. ``server``
runs it with uvicorn as one more task of the daemon's event loop. The page's content is
``views.status.page_document`` — the same read model ``homeport status`` prints — read
through a read-only store connection of its own.
"""
