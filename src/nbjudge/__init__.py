"""nbjudge: measure and improve how well LLM judges of ML notebooks agree with human experts.

Importing nbjudge changes nothing in the process: stages, commands and open
backends set what they need for their duration (:mod:`nbjudge.offline`).
"""

__version__ = "0.1.0"
