"""The built-in detectors, one module per family; each registers itself with ``@detector``.

Every module in this package is imported when the registry is first read
(:func:`llmops.guard.registry.known`), so adding a detector is adding a module here;
modules whose name starts with ``_`` hold what several detectors share.
"""
