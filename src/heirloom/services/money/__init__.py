"""Money: the credits ledger, GPU costs and revenue, and GPU budgets."""
