"""Temporal activities: thin wrappers that call services and translate their errors."""
