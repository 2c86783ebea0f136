"""Pure business rules: tiers, pricing, job states, errors. Imports nothing of Heirloom's."""
