"""Results: retention by tier, quotas, and share links."""
