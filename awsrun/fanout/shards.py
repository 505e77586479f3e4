"""--shard K/N: the K-th of N contiguous slices of the role list, for CI matrices and
Kubernetes Indexed Jobs. No coordinator: every shard computes the same order on its own.

The list is ordered by account id, then label, before slicing, so the slices are the same
on every run of the same list; slice K holds items [(K-1)*L//N, K*L//N): disjoint, together
covering every role, sizes differing by at most one.
"""

from __future__ import annotations

import re
from typing import List, Sequence, Tuple, TypeVar

from awsrun.config.validate import RoleRef
from awsrun.errors import InvalidValue

__all__ = ["parse", "select"]

T = TypeVar("T")
MAX_SHARDS = 10000


def parse(text: str) -> Tuple[int, int]:
    """K/N with 1 <= K <= N, checked before any AWS call."""
    match = re.fullmatch(r"(\d{1,6})/(\d{1,6})", text.strip(), re.ASCII)
    if not match:
        raise InvalidValue("shard", text, f"expected K/N, whole numbers with 1 <= K <= N <= {MAX_SHARDS} (1/4 is the first of four)")
    k, n = int(match[1]), int(match[2])
    if not 1 <= n <= MAX_SHARDS:
        raise InvalidValue("shard", text, f"N must be from 1 to {MAX_SHARDS}")
    if not 1 <= k <= n:
        closest = f"{min(max(k, 1), n)}/{n}"
        raise InvalidValue("shard", text, f"K must be from 1 to N={n} (closest: {closest}; shards count from 1)")
    return k, n


def select(roles: Sequence[RoleRef], names: Sequence[str], shard: Tuple[int, int]) -> Tuple[List[RoleRef], List[str]]:
    """The roles (and their labels) of shard K of N, in account-id-then-label order."""
    order = sorted(range(len(roles)), key=lambda index: (roles[index].account, names[index]))
    k, n = shard
    mine = order[(k - 1) * len(order) // n: k * len(order) // n]
    return [roles[index] for index in mine], [names[index] for index in mine]
