"""Accounts: users, their API keys and stream tokens."""
