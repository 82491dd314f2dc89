"""The policy core: who may do what to which resource, and why.

Principals, governed tags, grants (named, tag-based, delegated, expiring), row filters,
masks, the policy snapshot, the authorizer that decides data actions, the registry of
every action with the rule that decides it, and ``explain``. Nothing here imports a query
engine, the CLI or a web framework (``make lint`` checks it): every front end asks this
package, and none of them may decide for it.
"""
