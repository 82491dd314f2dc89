"""lakemesh benchmarks: ``python -m benchmarks [--only NAME] [--quick]`` (``make bench``).

One module per benchmark (``NAME``, ``DESCRIPTION``, ``run(ctx)``); ``_fixture`` builds the
shared domain catalog and peer database, ``_common`` times, writes results and renders
``BENCHMARKS.md``.
"""
