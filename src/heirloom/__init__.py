"""Heirloom: durable AI photo restoration and colourization on Temporal and RunPod."""

__version__ = "0.1.0"
