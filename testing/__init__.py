"""Helpers the tests and benchmarks share: a scripted OpenAI-compatible server, the scripted
alignment experiment, stages run as DVC runs them, and the import checks of each package."""
