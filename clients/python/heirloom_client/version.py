"""The client's version: the API version (a date) it was generated from, as a PEP 440 version."""

API_VERSION = "2026-12-07"
VERSION = "2026.12.7"
