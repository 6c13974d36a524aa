"""Datasets for test cases: shipped by installed packages or generated from a seed.

Nothing is downloaded. scikit-learn and statsmodels ship a few real tables
(breast cancer, wine, diabetes, Mauna Loa CO2); the others are generated
deterministically with realistic names and structure. Every builder returns
tables by role: ``train`` (with the target) and ``test`` (new rows without
it) for tabular tasks, ``train`` (history) and ``future`` (the dates to
forecast) for forecasting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "build_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """What a suite asks for: a named dataset and how to shape it."""

    name: str
    rows: int | None = None
    missing_rate: float = 0.0
    missing_mechanism: str = "none"  # none | MCAR | MAR
    positive_rate: float | None = None  # imbalanced binary targets
    horizon: int | None = None  # forecasting
    test_share: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.name!r}; choose one of {', '.join(sorted(DATASETS))}"
            )
        if not 0.0 <= self.missing_rate < 0.9:
            raise ValueError(f"missing_rate must be in [0, 0.9), got {self.missing_rate}")
        if self.missing_mechanism not in ("none", "MCAR", "MAR"):
            raise ValueError(
                f"missing_mechanism must be none, MCAR or MAR, got {self.missing_mechanism!r}"
            )
        if (self.missing_rate > 0) != (self.missing_mechanism != "none"):
            raise ValueError(
                "missing_rate and missing_mechanism disagree: use missing_mechanism 'none' "
                "exactly when missing_rate is 0"
            )
        if self.rows is not None and self.rows < 60:
            raise ValueError(f"rows must be at least 60, got {self.rows}")


@dataclass(frozen=True)
class Dataset:
    """A built dataset: tables by role and what a grader needs to know."""

    tables: dict[str, pd.DataFrame]
    target: str
    id_column: str | None = None
    time_index: str | None = None
    frequency: str | None = None
    horizon: int | None = None
    missing_mechanism: str = "none"
    extra: dict[str, object] = field(default_factory=dict)


def _split(frame: pd.DataFrame, target: str, share: float,
           rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    order = rng.permutation(len(frame))
    n_test = max(10, round(len(frame) * share))
    test = frame.iloc[np.sort(order[:n_test])].drop(columns=[target]).reset_index(drop=True)
    train = frame.iloc[np.sort(order[n_test:])].reset_index(drop=True)
    return {"train": train, "test": test}


def _blank(
    frame: pd.DataFrame,
    columns: list[str],
    rate: float,
    mechanism: str,
    rng: np.random.Generator,
    driver: np.ndarray | None = None,
) -> pd.DataFrame:
    """Blank cells: MCAR uniformly; MAR more often where ``driver`` is high."""
    if rate <= 0:
        return frame
    frame = frame.copy()
    for column in columns:
        if mechanism == "MAR" and driver is not None:
            ranks = pd.Series(driver).rank(pct=True).to_numpy()
            p = np.clip(rate * 2 * ranks, 0, 0.95)
        else:
            p = np.full(len(frame), rate)
        frame.loc[rng.random(len(frame)) < p, column] = np.nan
    return frame


def _rows(spec: DatasetSpec, default: int) -> int:
    return spec.rows or default


def _titanic(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    n = _rows(spec, 891)
    pclass = rng.choice([1, 2, 3], size=n, p=[0.24, 0.21, 0.55])
    sex = rng.choice(["male", "female"], size=n, p=[0.65, 0.35])
    age = np.clip(rng.normal(30 - 4 * (pclass - 2), 13, n), 0.4, 80).round(1)
    sibsp = rng.poisson(0.5, n)
    parch = rng.poisson(0.4, n)
    fare = np.round(rng.lognormal(np.log([80, 22, 9])[pclass - 1], 0.5), 2)
    embarked = rng.choice(["S", "C", "Q"], size=n, p=[0.72, 0.19, 0.09])
    logit = -1.2 + 2.5 * (sex == "female") + 0.9 * (3 - pclass) - 0.03 * (age - 30) - 0.3 * sibsp
    survived = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "PassengerId": np.arange(1, n + 1),
            "Pclass": pclass,
            "Sex": sex,
            "Age": age,
            "SibSp": sibsp,
            "Parch": parch,
            "Fare": fare,
            "Embarked": embarked,
            "Survived": survived,
        }
    )
    frame = _blank(frame, ["Age", "Embarked"], spec.missing_rate, spec.missing_mechanism, rng,
                   driver=pclass + rng.random(n))
    return Dataset(_split(frame, "Survived", spec.test_share, rng), "Survived", "PassengerId",
                   missing_mechanism=spec.missing_mechanism)


def _churn(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    n = _rows(spec, 2000)
    positive_rate = spec.positive_rate or 0.08
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["month-to-month", "one year", "two year"], size=n, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber optic", "dsl", "none"], size=n, p=[0.44, 0.34, 0.22])
    payment = rng.choice(
        ["electronic check", "mailed check", "bank transfer", "credit card"], size=n
    )
    monthly = np.round(20 + 50 * (internet == "fiber optic") + 25 * (internet == "dsl")
                       + rng.normal(0, 8, n), 2)
    total = np.round(monthly * tenure + rng.normal(0, 30, n).clip(0), 2)
    calls = rng.poisson(1.2, n)
    senior = (rng.random(n) < 0.16).astype(int)
    score = (1.4 * (contract == "month-to-month") - 0.04 * tenure + 0.35 * calls
             + 0.6 * (internet == "fiber optic") + 0.4 * senior + rng.normal(0, 0.5, n))
    # Calibrate the intercept so the positive share matches the requested imbalance.
    threshold = np.quantile(score, 1 - positive_rate)
    churned = (score > threshold).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "tenure_months": tenure,
            "contract": contract,
            "internet_service": internet,
            "payment_method": payment,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": calls,
            "senior_citizen": senior,
            "churned": churned,
        }
    )
    frame = _blank(frame, ["total_charges", "support_calls"], spec.missing_rate,
                   spec.missing_mechanism, rng, driver=-tenure + rng.random(n))
    return Dataset(_split(frame, "churned", spec.test_share, rng), "churned", "customer_id",
                   missing_mechanism=spec.missing_mechanism)


def _house_prices(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    n = _rows(spec, 1460)
    neighborhood = rng.choice(["NAmes", "CollgCr", "OldTown", "Edwards", "Somerst", "Gilbert"],
                              size=n)
    premium = pd.Series(neighborhood).map(
        {"NAmes": 0, "CollgCr": 20000, "OldTown": -15000, "Edwards": -10000,
         "Somerst": 35000, "Gilbert": 15000}).to_numpy()
    living = np.round(rng.lognormal(np.log(1500), 0.3, n))
    lot = np.round(rng.lognormal(np.log(9500), 0.4, n))
    year = rng.integers(1900, 2010, n)
    bedrooms = np.clip(np.round(living / 550 + rng.normal(0, 0.7, n)), 1, 6).astype(int)
    bathrooms = np.clip(np.round(living / 900 + rng.normal(0, 0.5, n)), 1, 4).astype(int)
    has_garage = rng.random(n) < 0.94
    garage = np.where(has_garage, np.round(rng.normal(480, 150, n).clip(150)), 0)
    quality = rng.choice(["Po", "Fa", "TA", "Gd", "Ex"], size=n, p=[0.02, 0.08, 0.5, 0.3, 0.1])
    quality_bonus = pd.Series(quality).map(
        {"Po": -40000, "Fa": -20000, "TA": 0, "Gd": 30000, "Ex": 80000}).to_numpy()
    price = (30000 + 95 * living + 1.2 * lot + 400 * (year - 1900) + 60 * garage
             + premium + quality_bonus + rng.normal(0, 22000, n))
    frame = pd.DataFrame(
        {
            "house_id": np.arange(1, n + 1),
            "neighborhood": neighborhood,
            "lot_area": lot,
            "living_area": living,
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "year_built": year,
            "garage_area": garage,
            "kitchen_quality": quality,
            "sale_price": np.round(price.clip(35000), -2),
        }
    )
    frame = _blank(frame, ["lot_area", "garage_area", "kitchen_quality"], spec.missing_rate,
                   spec.missing_mechanism, rng, driver=-(year - 1900) + rng.random(n))
    return Dataset(_split(frame, "sale_price", spec.test_share, rng), "sale_price", "house_id",
                   missing_mechanism=spec.missing_mechanism)


def _support_tickets(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    n = _rows(spec, 1200)
    channel = rng.choice(["email", "chat", "phone", "web form"], size=n)
    product = rng.choice(["billing", "mobile app", "web", "api"], size=n)
    tier = rng.choice(["free", "pro", "enterprise"], size=n, p=[0.5, 0.35, 0.15])
    prior = rng.poisson(2, n)
    length = np.round(rng.lognormal(np.log(300), 0.6, n)).astype(int)
    outage = (rng.random(n) < 0.1).astype(int)
    score = (1.2 * (tier == "enterprise") + 0.5 * (tier == "pro") + 1.5 * outage
             + 0.6 * (product == "api") + 0.1 * prior + 0.4 * (channel == "phone")
             + rng.normal(0, 0.6, n))
    priority = np.where(score > 1.6, "high", np.where(score > 0.6, "medium", "low"))
    frame = pd.DataFrame(
        {
            "ticket_id": [f"T{50000 + i}" for i in range(n)],
            "channel": channel,
            "product_area": product,
            "customer_tier": tier,
            "prior_tickets": prior,
            "message_length": length,
            "mentions_outage": outage,
            "priority": priority,
        }
    )
    frame = _blank(frame, ["prior_tickets", "channel"], spec.missing_rate,
                   spec.missing_mechanism, rng, driver=prior + rng.random(n))
    return Dataset(_split(frame, "priority", spec.test_share, rng), "priority", "ticket_id",
                   missing_mechanism=spec.missing_mechanism)


def _store_sales(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    n = _rows(spec, 730)
    horizon = spec.horizon or 28
    dates = pd.date_range("2023-01-01", periods=n + horizon, freq="D")
    t = np.arange(n + horizon)
    promo = (rng.random(n + horizon) < 0.12).astype(int)
    holiday = dates.strftime("%m-%d").isin(["01-01", "07-04", "11-23", "12-25", "12-31"])
    weekly = np.array([0.9, 0.85, 0.88, 0.95, 1.1, 1.35, 1.2])[dates.day_of_week]
    yearly = 1 + 0.15 * np.sin(2 * np.pi * (dates.day_of_year - 80) / 365.25)
    sales = (400 + 0.25 * t) * weekly * yearly * (1 + 0.25 * promo) * np.where(holiday, 0.4, 1)
    sales = np.round(sales * rng.lognormal(0, 0.06, n + horizon), 1)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "promo": promo,
                          "holiday": holiday.astype(int), "sales": sales})
    history = frame.iloc[:n].reset_index(drop=True)
    history = _blank(history, ["sales"], spec.missing_rate, spec.missing_mechanism, rng,
                     driver=history["promo"].to_numpy() + rng.random(n))
    future = frame.iloc[n:].drop(columns=["sales"]).reset_index(drop=True)
    return Dataset({"train": history, "future": future}, "sales", None, "date", "D", horizon,
                   missing_mechanism=spec.missing_mechanism)


def _co2(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    import statsmodels.api as sm

    raw = sm.datasets.co2.load_pandas().data  # weekly Mauna Loa CO2, real gaps
    horizon = spec.horizon or 52
    series = raw["co2"]
    if spec.rows:
        series = series.iloc[-spec.rows:]
    history = pd.DataFrame({"week": series.index.strftime("%Y-%m-%d"),
                            "co2_ppm": series.round(2).to_numpy()})
    if spec.missing_rate > 0:
        history = _blank(history, ["co2_ppm"], spec.missing_rate, spec.missing_mechanism, rng)
    future_dates = pd.date_range(series.index[-1], periods=horizon + 1, freq="W-SAT")[1:]
    future = pd.DataFrame({"week": future_dates.strftime("%Y-%m-%d")})
    mechanism = spec.missing_mechanism if spec.missing_rate > 0 else "MCAR"
    return Dataset({"train": history, "future": future}, "co2_ppm", None, "week", "W-SAT",
                   horizon, missing_mechanism=mechanism)


def _sklearn_table(
    loader: Callable[..., Any],
    target: str,
    id_column: str,
    rename: Callable[[pd.DataFrame], pd.DataFrame] | None,
    target_map: Callable[[pd.Series], pd.Series] | None,
) -> Callable[[DatasetSpec, np.random.Generator], Dataset]:
    def build(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
        bunch = loader(as_frame=True)
        frame = bunch.frame.copy()
        frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "").replace("/", "_")
                         for c in frame.columns]
        if rename:
            frame = rename(frame)
        if target_map:
            frame[target] = target_map(frame.pop("target"))
        else:
            frame = frame.rename(columns={"target": target})
        if spec.rows and spec.rows < len(frame):
            frame = frame.iloc[np.sort(rng.choice(len(frame), spec.rows, replace=False))]
        frame = frame.round(4).reset_index(drop=True)
        frame.insert(0, id_column, np.arange(1, len(frame) + 1))
        features = [c for c in frame.columns if c not in (id_column, target)]
        frame = _blank(frame, features[:3], spec.missing_rate, spec.missing_mechanism, rng,
                       driver=frame[features[3]].to_numpy())
        return Dataset(_split(frame, target, spec.test_share, rng), target, id_column,
                       missing_mechanism=spec.missing_mechanism)

    return build


def _breast_cancer(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    # sklearn codes malignant as 0; a clinician's target is "is it malignant".
    return _sklearn_table(load_breast_cancer, "malignant", "patient_id", None,
                          lambda t: (1 - t).astype(int))(spec, rng)


def _wine(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    from sklearn.datasets import load_wine

    return _sklearn_table(load_wine, "cultivar", "sample_id", None,
                          lambda t: t.map({0: "barolo", 1: "grignolino", 2: "barbera"}))(spec, rng)


def _diabetes(spec: DatasetSpec, rng: np.random.Generator) -> Dataset:
    from sklearn.datasets import load_diabetes

    def load(as_frame: bool) -> Any:
        return load_diabetes(as_frame=as_frame, scaled=False)

    return _sklearn_table(load, "disease_progression", "patient_id", None, None)(spec, rng)


DATASETS: dict[str, Callable[[DatasetSpec, np.random.Generator], Dataset]] = {
    "titanic": _titanic,
    "churn": _churn,
    "house_prices": _house_prices,
    "support_tickets": _support_tickets,
    "store_sales": _store_sales,
    "co2": _co2,
    "breast_cancer": _breast_cancer,
    "wine": _wine,
    "diabetes": _diabetes,
}


def build_dataset(spec: DatasetSpec, seed: int) -> Dataset:
    """Build ``spec`` deterministically from ``seed``."""
    rng = np.random.default_rng([seed, *spec.name.encode()])
    return DATASETS[spec.name](spec, rng)
