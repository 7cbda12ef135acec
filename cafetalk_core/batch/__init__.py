"""Batches at studio scale: ``cafetalk batch MANIFEST`` on this machine or on a Ray cluster.

``manifest`` reads the lines, ``jobs`` is what every engine does with them (prepare, sample a
group, finish, write), ``local`` runs them with a process pool here, ``ray_engine`` on a Ray
cluster, ``command`` is the command line (progress, resume, per-line errors, the report).
docs/batch.md is the guide for studios and render farms.
"""
