"""The role session: source credentials, MFA, the chain of hops, the STS calls, the cache and
its key. botocore is imported only by source.py and sts.py, and only when STS is called."""
