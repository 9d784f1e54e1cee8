"""Article 6.2 (seed 003, ICR Article 6.2 Procedures v2.0): pure rules and state machines.

Covers the Letter of Attestation and Authorization (the *letter*, §I.1-I.12) and its life,
a project's Article 6.2 status, designation at issuance (§4.1, §II.1), conversion of
standard ICCs (§I.12), the adjustment deposit (§II.3.b), corresponding-adjustment (CA)
status (§II.2, §IV), non-CA events and compensation (§V, §V.b) and the annual report (§III).

No I/O: callers pass plain values and store what comes back. Transition functions return a
new object with one more history entry; an illegal transition raises
:class:`~registry.domain.article6.rules.IllegalTransition` naming it. Every refusal names a
:class:`~registry.domain.article6.rules.Rule` and its section.

Modules, one concept each (import names from the module that defines them):

- :mod:`~registry.domain.article6.rules`: rules, refusals, errors, the history entry;
- :mod:`~registry.domain.article6.letters`: the letter (LoA): content, completeness, life
  cycle and authorized uses (§I);
- :mod:`~registry.domain.article6.projects`: a project's Article 6.2 status (§I.12, §V.b);
- :mod:`~registry.domain.article6.designation`: designation at issuance, conversion and the
  adjustment deposit (§4.1, §I.12, §II.1, §II.3.b);
- :mod:`~registry.domain.article6.adjustments`: CA status, first transfer and non-CA events
  (§II.2, §IV, §V);
- :mod:`~registry.domain.article6.uses`: a credit class's current uses, the holds and the
  first-transfer policy (§I.5, §I.7.1, §I.10, §V);
- :mod:`~registry.domain.article6.compensation`: compensation of non-CA events (§V.b);
- :mod:`~registry.domain.article6.reports`: the annual report (§III).
"""
