"""The local development stack: a RunPod-compatible endpoint and the `heirloom dev` launcher."""
