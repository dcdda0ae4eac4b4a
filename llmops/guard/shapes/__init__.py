"""The log shapes ``guard scan`` reads, one module per tool or API; each registers itself
with :func:`llmops.guard.readers.shape`. Modules whose name starts with ``_`` hold what
the shapes share and register nothing.
"""
