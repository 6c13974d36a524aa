"""nbjudge: measure and improve how well LLM judges of ML notebooks agree with human experts."""

import os as _os

__version__ = "0.1.0"

# Nothing is downloaded at run time. litellm fetches a model price list from the
# internet when it is first imported, unless told to read the copy it ships, and
# MLflow's judges fetch a model catalog unless its address is empty. Both are read
# at import time, so they are set here, before any stage imports either; a value
# the user set wins.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
