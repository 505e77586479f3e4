"""The role session: source credentials (source.py), MFA, the planned hops (hops.py, chain.py, hopchecks.py),
walking them through STS (walk.py, sts.py), the cache and its key. botocore is imported only by source.py and
sts.py, and only when STS is called; rolesession.py reaches walk.py only then (a cache hit never does)."""
