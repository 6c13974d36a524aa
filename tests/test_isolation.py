"""What one test sets in MLflow's and litellm's globals is gone in the next
(tests/conftest.py). The first test leaves state behind; the second, run after it in
file order, finds none of it. litellm is imported first, as in a whole run: the models
registered by the test that first imports it are not undone."""

import os

from nbjudge.offline import offline

with offline():
    import litellm

LEFTOVER_PROVIDER = "isolation-leftover"
LEFTOVER_MODEL = "isolation-leftover/model"


def test_a_test_sets_an_experiment_a_provider_a_callback_and_a_model(tmp_path):
    import mlflow
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.llms.custom_llm import CustomLLM

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("isolation")
    litellm.custom_provider_map = [*litellm.custom_provider_map,
                                   {"provider": LEFTOVER_PROVIDER, "custom_handler": CustomLLM()}]
    litellm.callbacks = [*litellm.callbacks, CustomLogger()]
    litellm.register_model({LEFTOVER_MODEL: {"max_input_tokens": 10, "mode": "chat",
                                             "litellm_provider": LEFTOVER_PROVIDER}})
    assert os.environ.get("MLFLOW_EXPERIMENT_ID")
    assert LEFTOVER_MODEL in litellm.model_cost


def test_the_next_test_finds_none_of_it():
    import mlflow.tracking._tracking_service.utils as tracking
    import mlflow.tracking.fluent as fluent

    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert fluent._active_experiment_id is None
    assert "isolation" not in str(tracking._tracking_uri or "")
    assert LEFTOVER_PROVIDER not in [p["provider"] for p in litellm.custom_provider_map]
    assert LEFTOVER_PROVIDER not in litellm.provider_list
    assert not [c for c in litellm.callbacks if type(c).__name__ == "CustomLogger"]
    assert LEFTOVER_MODEL not in litellm.model_cost
