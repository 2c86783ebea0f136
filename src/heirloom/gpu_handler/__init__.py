"""The handler deployed to RunPod serverless: a GPU engine, plus a CPU stand-in for local runs."""
