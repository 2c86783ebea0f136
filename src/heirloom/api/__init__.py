"""The REST API (FastAPI): starts workflows, reports jobs, serves results."""
