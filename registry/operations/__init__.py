"""Registry operations: each changes credits inside the caller's transaction and appends a
ledger entry. None of them commits; wrap calls in :func:`registry.db.transaction`.

Rules live in the pure modules of :mod:`registry.domain`; these modules load rows, apply
those rules and write the result.
"""
