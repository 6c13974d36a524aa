"""``grading serve``: MLflow's server with sign-in, one user per rater.

Without sign-in MLflow's UI records every grade as ``default`` (review queue) or ``User``
(trace view), and the reader gives it to the rater the trace was made for. With MLflow's
basic-auth app (``mlflow server --app-name basic-auth``, the ``auth`` extra) each expert
signs in under their rater id, the UI records grades under that user name, and a grade
given by another expert on someone's trace is theirs, not the trace's rater's.

The users live in a SQLite file beside the settings (``.nbjudge-cache/grading-auth/`` by
default); each new rater gets a random password, written once to ``passwords.txt``
there (readable by its owner only) for the team lead to hand out. Raters may edit the
grading experiment (grades are writes) and read the rest.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nbjudge.errors import InputError
from nbjudge.grading.traces import UI_ANONYMOUS

__all__ = ["ADMIN", "SignIn", "prepare_sign_in", "server_command"]

ADMIN = "admin"


@dataclass(frozen=True)
class SignIn:
    config: Path                    # the basic-auth settings (MLFLOW_AUTH_CONFIG_PATH)
    passwords: Path                 # user and password of every account made here
    created: tuple[str, ...]        # accounts made now (the others existed)
    secret_key: str                 # signs the UI's CSRF tokens; kept, so restarts agree

    def environ(self) -> dict[str, str]:
        return {"MLFLOW_AUTH_CONFIG_PATH": str(self.config),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": self.secret_key}


def _private(path: Path, text: str) -> None:
    """Append ``text`` to ``path``, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(text)


def _settings(users_db: Path) -> str:
    return ("[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{users_db}\n"
            f"admin_username = {ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")


def prepare_sign_in(folder: Path, raters: Sequence[str], experiment_id: str) -> SignIn:
    """Write the basic-auth settings in ``folder``, make an account for the admin and each
    rater that has none (existing accounts keep their passwords) and let each rater edit
    the grading experiment (the review form refuses a user without that permission)."""
    try:
        import flask_wtf  # noqa: F401  (the basic-auth app's dependency: the `auth` extra)
        from mlflow.exceptions import MlflowException
        from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
    except ImportError as error:
        raise InputError(f"sign-in needs MLflow's auth extra ({error.name} is missing): "
                         "pip install -c constraints.txt -e '.[auth]'") from None
    names = tuple(dict.fromkeys(r.strip() for r in raters if r.strip()))
    if not names:
        raise InputError("name at least one rater (--raters expert_1,expert_2)")
    reserved = sorted((UI_ANONYMOUS | {ADMIN}) & set(names))
    if reserved:
        raise InputError(f"{reserved} cannot be a rater's user name: MLflow uses it")
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "basic_auth.ini"
    config.write_text(_settings(folder / "users.db"), encoding="utf-8")
    store = SqlAlchemyStore()
    store.init_db(f"sqlite:///{folder / 'users.db'}")
    passwords = folder / "passwords.txt"
    created = []
    for name, admin in [(ADMIN, True), *((n, False) for n in names)]:
        if store.has_user(name):
            continue
        password = secrets.token_urlsafe(12)
        store.create_user(name, password, is_admin=admin)
        _private(passwords, f"{name}\t{password}\n")
        created.append(name)
    for name in names:
        try:
            store.create_experiment_permission(experiment_id, name, "EDIT")
        except MlflowException:   # granted before
            store.update_experiment_permission(experiment_id, name, "EDIT")
    secret = folder / "secret_key"
    if not secret.is_file():
        _private(secret, secrets.token_hex(32))
    return SignIn(config, passwords, tuple(created), secret.read_text(encoding="utf-8"))


def server_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """MLflow's server with the basic-auth app on the grading store."""
    return [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
            "--backend-store-uri", tracking_uri, "--host", host, "--port", str(port)]
