"""Abuse resistance: rate limits (in process or shared through Redis), and abuse detection."""
