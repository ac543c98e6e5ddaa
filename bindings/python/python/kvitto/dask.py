"""Verify exports beyond one machine with Dask (``pip install "kvitto[dask]"``).

``verify_export(paths_or_bag, keys)`` verifies each partition on a worker
(one input file, or one partition of a Dask Bag of lines), shuffles what
the chains need to the workers by the authorization_id kvitto-core reads
(leniently, so an invalid receipt still joins its chain), checks every
chain whole on one worker, and merges everything into one
:class:`kvitto.Report` with the same verdicts, codes and chain results as
``kvitto verify --chains`` on the same files: receipts in input order,
chains in order of first appearance.

Dask schedules and shuffles (``Bag.groupby(..., shuffle="tasks")``); all
verification runs in kvitto's native module on the workers. Paths must be
readable from every worker (a shared file system).
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Tuple, Union

from kvitto import _kvitto
from kvitto._kvitto import KeySet, Report

__all__ = ["verify_export"]

Keys = Union[KeySet, Sequence[KeySet]]
PathLike = Union[str, "os.PathLike[str]"]


def _verify_path(path: str, keys: Keys, part: int, buckets: int, chains: bool, keep: str) -> Tuple[Report, List[bytes]]:
    return _kvitto.verify_partition(path, keys, part, buckets, chains, keep)


def _verify_lines(
    lines: Any, keys: Keys, part: int, buckets: int, chains: bool, keep: str, name: str
) -> Tuple[Report, List[bytes]]:
    return _kvitto.verify_partition(iter(lines), keys, part, buckets, chains, keep, name)


def _report(partial: Tuple[Report, List[bytes]]) -> Report:
    return partial[0]


def _bucket_items(partial: Tuple[Report, List[bytes]]) -> List[Tuple[int, bytes]]:
    return list(enumerate(partial[1]))


def _bucket_key(item: Tuple[int, bytes]) -> int:
    return item[0]


def _judge(group: Tuple[int, List[Tuple[int, bytes]]], keys: Keys, sources: List[str]) -> bytes:
    return _kvitto.judge_chains([blob for _, blob in group[1]], keys, sources)


def verify_export(
    paths_or_bag: Any,
    keys: Keys,
    chains: bool = True,
    *,
    buckets: Optional[int] = None,
    keep: str = "all",
    scheduler: Any = None,
) -> Report:
    """Verify an export on Dask and return one :class:`kvitto.Report`.

    ``paths_or_bag``: a path or a list of paths (directories are walked for
    ``*.json``, ``*.jsonl`` and their ``.gz``, sorted, as the CLI walks
    them; each file is one partition, read on a worker), or a
    ``dask.bag.Bag`` of lines (each partition's lines joined as JSON Lines,
    named ``<bag partition N>``). ``keys``: a KeySet or a list of them.
    ``buckets``: how many groups the chains are shuffled into (default: one
    per partition). ``keep`` as for :func:`kvitto.verify_export`.
    ``scheduler`` is passed to ``dask.compute`` (default: the current
    client, if any, else Dask's default).
    """
    import dask
    import dask.bag as db

    if buckets is not None and buckets < 1:
        raise ValueError("buckets must be at least 1")
    if isinstance(paths_or_bag, db.Bag):
        parts = paths_or_bag.to_delayed()
        sources = [f"<bag partition {i}>" for i in range(len(parts))]
        nb = buckets or max(1, len(parts))
        partials = [
            dask.delayed(_verify_lines)(p, keys, i, nb, chains, keep, sources[i])
            for i, p in enumerate(parts)
        ]
    else:
        sources = _kvitto.expand_paths(paths_or_bag)
        nb = buckets or max(1, len(sources))
        partials = [
            dask.delayed(_verify_path)(path, keys, i, nb, chains, keep)
            for i, path in enumerate(sources)
        ]
    reports = [dask.delayed(_report)(p) for p in partials]
    if chains and partials:
        items = db.from_delayed([dask.delayed(_bucket_items)(p) for p in partials])
        grouped = items.groupby(_bucket_key, npartitions=nb, shuffle="tasks")
        judged = grouped.map(_judge, keys, sources)
        kwargs = {} if scheduler is None else {"scheduler": scheduler}
        done_reports, chain_parts = dask.compute(reports, judged, **kwargs)
    else:
        kwargs = {} if scheduler is None else {"scheduler": scheduler}
        (done_reports,) = dask.compute(reports, **kwargs)
        chain_parts = []
    return _kvitto.merge_reports(list(done_reports), list(chain_parts), keys, chains)
