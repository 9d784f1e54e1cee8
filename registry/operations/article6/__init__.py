"""Article 6.2 operations (seed 003): letters, project status, designation at issuance,
conversion of standard ICCs, CA status, non-CA events, compensation and the annual report.

Each function runs inside the caller's transaction (:func:`registry.db.transaction`), never
commits, appends ledger entries and applies the pure rules of
:mod:`registry.domain.article6`. A failed rule raises :class:`~registry.errors.RuleViolation`
with the rule id (``rule``), the field and a detail listing every failed rule; an illegal
state transition raises :class:`~registry.errors.Conflict` naming it. Nothing is written then.

Serial conventions (documented so anyone can recompute them):

- A designation issues its quantity as consecutive units of the project's Article 6.2
  vintage serialization (flag ``1``, e.g. ``ICR-ISL-354-78040-14-R-1-2023``): the lowest
  ``deposit`` units into the non-CA adjustment account, the rest into the proponent's
  account (two issuances of the same checked monitoring period and verification through
  :func:`registry.operations.issuances.issue_designated`). Outstanding non-CA compensation
  (§V.b step 5) is then cancelled from that account, lowest serials first.
- A conversion cancels the lowest active serials of the standard ex-post issuance(s) of the
  monitoring period it names, held in the account (never those in bridge custody), and
  designates as many new Article 6.2 ICCs the same way, for that period.
- Compensation cancels lowest serials first, per project (ascending number), vintage and
  account, through :func:`registry.operations.cancellations.cancel`.

The credit class of an Article 6.2 vintage carries the letter's number in its token id; one
vintage serialization has one class, so a vintage designated under one letter cannot be
designated under another. The class's ``ca_status`` mirrors the CA record of its project and
vintage; :func:`~registry.operations.article6.adjustments.pending_ca_pushes` lists changes the
bridge still has to send on-chain.

Modules, one concept each, mirroring :mod:`registry.domain.article6` (import names from the
module that defines them):

- :mod:`~registry.operations.article6.common`: refusal to registry error, default time, the
  project's Article 6.2 settings row;
- :mod:`~registry.operations.article6.projects`: host countries, project settings and status;
- :mod:`~registry.operations.article6.letters`: letters (LoA) and their life cycle;
- :mod:`~registry.operations.article6.designation`: designation at issuance and conversion;
- :mod:`~registry.operations.article6.adjustments`: CA records, on-chain CA pushes, non-CA events;
- :mod:`~registry.operations.article6.compensation`: the non-CA adjustment account and
  compensation (§V.b);
- :mod:`~registry.operations.article6.reports`: retired Article 6.2 ICCs and the annual report.
"""
