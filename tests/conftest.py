"""Test isolation: MLflow keeps state in environment variables (``set_experiment``
exports ``MLFLOW_EXPERIMENT_ID``) and in module globals (the active experiment, the
tracking and registry URIs), and litellm in module globals (custom providers, callbacks,
registered models); no test may hand any of it to the next. New MLflow stores are copies
of one made per session."""

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _restore_mlflow_environment():
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in saved:
            del os.environ[key]
    os.environ.update(saved)


# Module globals, by module: what set_experiment, set_tracking_uri and set_registry_uri
# keep besides the environment.
_MLFLOW_GLOBALS = {
    "mlflow.tracking.fluent": ("_active_experiment_id", "_last_active_run_id"),
    "mlflow.tracking._tracking_service.utils": ("_tracking_uri",),
    "mlflow.tracking._model_registry.utils": ("_registry_uri",),
}
# litellm's lists that nbjudge.llm adds to (custom providers, the usage callback).
_LITELLM_LISTS = ("custom_provider_map", "provider_list", "_custom_providers", "callbacks",
                  "success_callback", "failure_callback", "_async_success_callback",
                  "_async_failure_callback", "input_callback", "_async_input_callback",
                  "service_callback")
# Where litellm.register_model writes (the price list, and the registrations it replays).
_LITELLM_MODEL_MAPS = (("litellm", "model_cost"),
                       ("litellm.utils", "_runtime_registered_model_cost"),
                       ("litellm.utils", "_runtime_registration_order"))


def _saved_globals(imported: bool = True) -> dict[tuple[str, str], object]:
    """The MLflow and litellm globals a test may change, as they are now; with
    ``imported=False``, as they are when the module is first imported, for the modules a
    test imported (MLflow's are None; litellm's lists empty except its providers, its
    replayed registrations empty; its price list is not known, and stays)."""
    saved: dict[tuple[str, str], object] = {}
    for module, names in _MLFLOW_GLOBALS.items():
        if module in sys.modules:
            saved |= {(module, n): getattr(sys.modules[module], n, None) if imported else None
                      for n in names}
    if "litellm" in sys.modules:
        litellm = sys.modules["litellm"]
        custom = {p.get("provider") for p in getattr(litellm, "custom_provider_map", [])}
        for name in _LITELLM_LISTS:
            value = getattr(litellm, name, None)
            if isinstance(value, list):
                saved["litellm", name] = (list(value) if imported else
                                          [v for v in value if v not in custom]
                                          if name == "provider_list" else [])
        for module, name in _LITELLM_MODEL_MAPS:
            mapping = getattr(sys.modules.get(module), name, None)
            if isinstance(mapping, dict) and (imported or module != "litellm"):
                saved[module, name] = dict(mapping) if imported else {}
    return saved


@pytest.fixture(autouse=True)
def _restore_mlflow_and_litellm_globals():
    """What a test sets in MLflow's and litellm's module globals is undone after it:
    its experiment, tracking URI, litellm custom providers, callbacks and registered
    models (not undone: changes inside one model's entry, and the models registered by
    the test that first imports litellm)."""
    saved = _saved_globals()
    yield
    saved = _saved_globals(imported=False) | saved
    for (module, name), value in saved.items():
        current = getattr(sys.modules[module], name)
        if isinstance(value, list) and isinstance(current, list):
            current[:] = value  # lists litellm's helpers hold on to stay the same object
        elif isinstance(value, dict) and isinstance(current, dict):
            if current != value:
                current.clear()
                current.update(value)
                if name == "model_cost":
                    invalidate = getattr(sys.modules["litellm.utils"],
                                         "_invalidate_model_cost_lowercase_map", None)
                    if invalidate is not None:
                        invalidate()
        else:
            setattr(sys.modules[module], name, value)


@pytest.fixture(scope="session")
def new_mlflow_store(tmp_path_factory) -> Callable[[Path], str]:
    """``new_mlflow_store(folder)``: the URI of a new, empty SQLite store in ``folder``.

    MLflow makes a store's tables by running every migration, about 10 s on 2 cores;
    each store here is a copy of one made once per session, which takes milliseconds.
    """
    from mlflow.tracking import MlflowClient

    template = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()

    def new_store(folder: Path) -> str:
        shutil.copyfile(template, folder / "mlflow.db")
        return f"sqlite:///{folder / 'mlflow.db'}"

    return new_store
