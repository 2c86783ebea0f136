"""Imaging: Pillow work on uploads and results, and what a photo says about itself."""
