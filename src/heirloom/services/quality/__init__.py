"""The quality gate: checks on a model output against the prepared input, on the worker's CPU.

`sanity` (decodes, not blank, the input's framing), `structure` (the same picture, not moved),
`identity` (the input's faces still look like the same people, through `faces`, dlib's
detector and face embedding) and `gate`, which runs them in turn. Pure functions over image
bytes and arrays; domain/quality.py decides what a job does with the answers.
"""
