"""``lakemesh serve``: the HTTP API under ``/api/v1`` and the web UI at ``/``, one ASGI app.

Neither holds any policy of its own. A request is authenticated (a bearer token for the
API, a signed session cookie for the UI), limited (body size, rate per token), and then
calls the same ``Mesh`` facade the CLI calls, as the authenticated principal: the same
gate, action registry, typed commands and audit records. ``create_app`` builds it;
FastAPI and uvicorn are imported only by ``lakemesh serve`` and the tests.
"""
