"""nbjudge: measure and improve how well LLM judges of ML notebooks agree with human experts."""

__version__ = "0.1.0"
