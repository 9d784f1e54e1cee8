"""Webhooks for marketplaces: per-organization subscriptions, a transactional outbox and a
delivery worker that follows ICR's published webhook scheme."""
