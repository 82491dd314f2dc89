"""The application layer every front end shares: one session per operation, the typed
commands and their executor, and the per-context APIs the ``Mesh`` facade hands out.

The CLI, the Python API and the HTTP API call these and nothing below them: a session
resolves the acting principal and refreshes the policy once, every decision is taken by
``lakemesh.access`` through the action registry, and every state change is a command
run in one transaction with its audit record and its event.
"""
