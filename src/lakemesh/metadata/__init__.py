"""The central catalog and how it stays in sync with the domains' own catalogs.

Domains and their storage, the crawler that builds a builtin catalog from files, the
central catalog's tables, partitions and schema history, the syncer (incremental, with
full repair and a fail-safe), and full-text search. The domains' own catalogs (builtin,
Iceberg, Delta) are backends in ``lakemesh.catalog``.
"""
