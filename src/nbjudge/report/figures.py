"""The report's figures, as matplotlib Figures built from the stats tables.

Every function takes data frames (as the stats stage writes them) and
returns a :class:`matplotlib.figure.Figure`; nothing is drawn through
pyplot, so no global state or GUI backend is involved. Figures are sized
for an A4 page (7 inches wide), use gray levels and marker shapes rather
than colour, and :func:`save_figure` writes them without timestamps, so the
same tables give the same bytes.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.typing import RcKeyType

from nbjudge.schemas import DIMENSIONS, ArmComparison

__all__ = [
    "CONFUSION_HUMAN",
    "CONFUSION_JUDGE",
    "STYLE",
    "SavedFigure",
    "ablation_figure",
    "alignment_cost_figure",
    "bias_figure",
    "comparison_figure",
    "confusion_figure",
    "dimension_label",
    "forest_figure",
    "label_efficiency_figure",
    "save_figure",
]

WIDTH = 7.0  # inches: the printable width of an A4 page with 15 mm margins
STYLE: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "nbjudge",  # fixed ids in SVG output
    "svg.fonttype": "none",  # text stays text: smaller files, selectable labels
    "path.simplify": False,
}
CONFUSION_HUMAN = ("N/A", "1", "2", "3")
CONFUSION_JUDGE = ("N/A", "1", "2", "3", "failed")

# Marker shapes and gray levels that stay apart in grayscale print.
_VARIANT_STYLES = (
    {"marker": "o", "markerfacecolor": "white", "color": "black"},
    {"marker": "s", "markerfacecolor": "black", "color": "black"},
    {"marker": "^", "markerfacecolor": "0.6", "color": "0.3"},
    {"marker": "D", "markerfacecolor": "0.85", "color": "0.45"},
    {"marker": "v", "markerfacecolor": "0.3", "color": "0.3"},
    {"marker": "P", "markerfacecolor": "white", "color": "0.45"},
)


# Controls (no-skill, calibrated) are drawn muted: light gray, small, hollow markers.
_CONTROL_MARKERS = ("X", "P", "d", "*")


def _control_style(index: int) -> dict[str, Any]:
    return {"marker": _CONTROL_MARKERS[index % len(_CONTROL_MARKERS)], "markersize": 5,
            "markerfacecolor": "white", "markeredgecolor": "0.6", "color": "0.7",
            "linestyle": "none"}


def dimension_label(dimension: str) -> str:
    """``data_imputation`` -> ``Data imputation``."""
    return dimension.replace("_", " ").capitalize().replace("Mlflow", "MLflow")


def _variant_style(index: int) -> dict[str, Any]:
    return dict(_VARIANT_STYLES[index % len(_VARIANT_STYLES)], markersize=6,
                markeredgecolor="black", linestyle="none")


def _dimensions(frame: pd.DataFrame, dimensions: Sequence[str] | None) -> list[str]:
    if dimensions is not None:
        return list(dimensions)
    present = set(frame["dimension"])
    known = [d for d in DIMENSIONS if d in present]
    return known + sorted(present - set(known))


_P = ParamSpec("_P")


def _styled(function: Callable[_P, Figure]) -> Callable[_P, Figure]:
    """Build the figure under :data:`STYLE`: artists read rcParams when they are created."""

    @functools.wraps(function)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return build


def _new_figure(height: float, width: float = WIDTH) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _zero_based(ax: Axes) -> None:
    """An axis of errors starts at 0, with room for a marker sitting on it."""
    high = ax.get_xlim()[1]
    ax.set_xlim(-0.03 * high, high)


def _dimension_axis(ax: Axes, dimensions: Sequence[str]) -> None:
    ax.set_yticks(range(len(dimensions)), [dimension_label(d) for d in dimensions])
    ax.set_ylim(len(dimensions) - 0.5, -0.5)  # first dimension at the top
    ax.tick_params(axis="y", length=0)
    for y in range(len(dimensions)):
        if y % 2 == 0:
            ax.axhspan(y - 0.5, y + 0.5, color="0.94", zorder=0, linewidth=0)


def _interval(ax: Axes, y: float, estimate: float, low: float, high: float,
              style: Mapping[str, Any]) -> None:
    if not (math.isnan(low) or math.isnan(high)):
        ax.hlines(y, low, high, color=style["color"], linewidth=1.3, zorder=2)
    if not math.isnan(estimate):
        ax.plot([estimate], [y], zorder=3, **style)


def _row(frame: pd.DataFrame, **where: object) -> pd.Series | None:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0]


def _value(row: pd.Series | None, column: str) -> float:
    if row is None or column not in row or pd.isna(row[column]):
        return math.nan
    return float(row[column])


def _ci(level: float) -> str:
    """``95% CI`` for ``level=0.95``; intervals are labelled with the level they have."""
    return f"{100 * level:.4g}% CI"


@_styled
def forest_figure(
    mae: pd.DataFrame,
    improvement: pd.DataFrame,
    *,
    reference: str = "baseline",
    variant: str = "full",
    correction: str = "holm",
    alpha: float = 0.05,
    dimensions: Sequence[str] | None = None,
    controls: Sequence[str] = (),
) -> Figure:
    """Per dimension: reference and aligned MAE with CIs, and the improvement with its CI.

    ``controls`` (e.g. ``majority``, ``calibrated``) are drawn muted beside
    the two judges' MAE, for scale: what no skill and calibration reach.

    The improvement is MAE(reference) - MAE(variant), positive when the
    aligned judge is closer to the humans. A filled diamond marks an
    improvement the stats stage calls significant (its configured rule); a
    star follows the adjusted p-value when it is below ``alpha``. Where the
    stats stage showed no interval (too few units), a dotted line spans one
    standard error either side instead.
    """
    dimensions = _dimensions(mae, dimensions)
    fig = _new_figure(0.36 * len(dimensions) + 1.5)
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.25]})
    styles = {reference: _variant_style(0), variant: _variant_style(1)}
    controls = [c for c in controls if c not in styles]
    styles |= {name: _control_style(i) for i, name in enumerate(controls)}
    names = [reference, variant, *controls]
    step = 0.3 if not controls else 0.7 / len(names)
    offsets = [(i - (len(names) - 1) / 2) * step for i in range(len(names))]
    for y, dimension in enumerate(dimensions):
        for offset, name in zip(offsets, names, strict=True):
            row = _row(mae, variant=name, dimension=dimension)
            _interval(left, y + offset, _value(row, "mae"), _value(row, "mae_ci_low"),
                      _value(row, "mae_ci_high"), styles[name])
        row = _row(improvement, reference=reference, variant=variant, dimension=dimension)
        significant = row is not None and bool(row["significant"])
        style = dict(_variant_style(1), marker="D", markersize=6,
                     markerfacecolor="black" if significant else "white")
        low, high = _value(row, "ci_low"), _value(row, "ci_high")
        if math.isnan(low) and not math.isnan(_value(row, "standard_error")):
            # Too few units for an interval: plus or minus one standard error, dotted, so
            # that it is not read as one.
            centre, se = _value(row, "improvement"), _value(row, "standard_error")
            right.hlines(y, centre - se, centre + se,
                         color=style["color"], linewidth=1.0, linestyle=":", zorder=2)
        _interval(right, y, _value(row, "improvement"), low, high, style)
        p = _value(row, f"p_{correction}")
        if not math.isnan(p):
            text = f"p={p:.3f}" if p >= 0.001 else "p<0.001"
            right.annotate(text + (" *" if p < alpha else ""), xy=(1.0, y),
                           xycoords=("axes fraction", "data"), xytext=(4, 0),
                           textcoords="offset points", va="center", fontsize=7.5)
    _dimension_axis(left, dimensions)
    _zero_based(left)
    left.set_xlabel("MAE (lower is better)")
    handles = [left.plot([], [], label=name, **styles[name])[0] for name in names]
    left.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0),
                ncols=min(len(names), 3), frameon=False, borderaxespad=0.2)
    right.axvline(0, color="0.3", linestyle="--", linewidth=0.9, zorder=1)
    right.set_xlabel(f"MAE {reference} − MAE {variant} (> 0: aligned better)")
    right.tick_params(axis="y", left=False)
    filled = right.plot([], [], label="significant", **dict(
        _variant_style(1), marker="D", markerfacecolor="black"))[0]
    hollow = right.plot([], [], label="not significant", **dict(
        _variant_style(1), marker="D", markerfacecolor="white"))[0]
    right.legend(handles=[filled, hollow], loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2,
                 frameon=False, borderaxespad=0.2)
    right.annotate(f"{correction} p", xy=(1.0, 1.0), xycoords="axes fraction", xytext=(4, 4),
                   textcoords="offset points", fontsize=7.5, va="bottom")
    return fig


@_styled
def ablation_figure(
    mae: pd.DataFrame,
    *,
    variants: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
    level: float = 0.95,
    controls: Sequence[str] = (),
) -> Figure:
    """Every variant's MAE with its CI at ``level``, side by side per dimension; the
    ``controls`` among them drawn muted."""
    dimensions = _dimensions(mae, dimensions)
    variants = list(variants or dict.fromkeys(mae["variant"]))
    judges = [v for v in variants if v not in controls]
    muted = [v for v in variants if v in controls]
    fig = _new_figure(0.36 * len(dimensions) + 1.2)
    ax = fig.subplots()
    width = 0.6 / max(len(variants), 1)
    for v, name in enumerate(variants):
        offset = (v - (len(variants) - 1) / 2) * width
        style = (_control_style(muted.index(name)) if name in muted
                 else _variant_style(judges.index(name)))
        for y, dimension in enumerate(dimensions):
            row = _row(mae, variant=name, dimension=dimension)
            _interval(ax, y + offset, _value(row, "mae"), _value(row, "mae_ci_low"),
                      _value(row, "mae_ci_high"), style)
        ax.plot([], [], label=name, **style)
    _dimension_axis(ax, dimensions)
    _zero_based(ax)
    ax.set_xlabel(f"MAE against the humans, with {_ci(level)} (lower is better)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=min(len(variants), 4),
              frameon=False, borderaxespad=0.2)
    return fig


@_styled
def label_efficiency_figure(
    curve: pd.DataFrame,
    *,
    dimensions: Sequence[str] | None = None,
    controls: Sequence[str] = ("calibrated",),
    level: float = 0.95,
) -> Figure:
    """MAE against labelled training notebooks per fold, one small panel per dimension.

    ``curve`` is the curve stage's table (``variant, fraction, n_labelled,
    dimension, mae, mae_ci_low, mae_ci_high``); each variant is a line with
    its bootstrap band where the stats stage gave one; ``controls`` muted.
    """
    dimensions = _dimensions(curve, dimensions)
    variants = list(dict.fromkeys(curve["variant"]))
    judges = [v for v in variants if v not in controls]
    columns = 3
    rows = math.ceil(len(dimensions) / columns)
    fig = _new_figure(1.55 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, columns, sharex=True, sharey=True)).ravel()
    for ax, dimension in zip(axes, dimensions, strict=False):
        for name in variants:
            style = (_control_style(controls.index(name)) if name in controls
                     else _variant_style(judges.index(name)))
            part = curve[(curve["variant"] == name) & (curve["dimension"] == dimension)]
            part = part.sort_values("n_labelled")
            x = part["n_labelled"].to_numpy(float)
            low, high = part["mae_ci_low"].to_numpy(float), part["mae_ci_high"].to_numpy(float)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=style["color"], alpha=0.18, linewidth=0)
            ax.plot(x, part["mae"].to_numpy(float), linewidth=1.0, color=style["color"],
                    linestyle="--" if name in controls else "-",
                    **{k: v for k, v in style.items() if k not in ("color", "linestyle")})
        ax.set_title(dimension_label(dimension), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(dimensions):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("MAE", fontsize=7.5)
    fig.supxlabel("labelled training notebooks per fold (bands: "
                  f"{_ci(level)} where shown)", fontsize=8)
    handles = [axes[0].plot([], [], label=name, color=(
        _control_style(controls.index(name)) if name in controls
        else _variant_style(judges.index(name)))["color"],
        **{k: v for k, v in (_control_style(controls.index(name)) if name in controls
                             else _variant_style(judges.index(name))).items()
           if k not in ("color", "linestyle")})[0] for name in variants]
    fig.legend(handles=handles, loc="outside upper left", ncols=len(variants), frameon=False)
    return fig


@_styled
def confusion_figure(
    confusion: pd.DataFrame, *, variant: str, dimensions: Sequence[str] | None = None
) -> Figure:
    """One variant's judge-vs-human count matrices, one small panel per dimension.

    Rows are the human consensus (rounded), columns the judge's score, with
    failed judgments in their own column; the diagonal is outlined.
    """
    frame = confusion[confusion["variant"] == variant].assign(
        human=lambda f: f["human"].astype(str), judge=lambda f: f["judge"].astype(str))
    dimensions = _dimensions(frame, dimensions)
    ncols = min(3, max(len(dimensions), 1))
    nrows = max(math.ceil(len(dimensions) / ncols), 1)
    fig = _new_figure(2.05 * nrows + 0.35)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(dimensions):]:
        ax.set_visible(False)
    for ax, dimension in zip(axes, dimensions, strict=False):
        cells = frame[frame["dimension"] == dimension].pivot_table(
            index="human", columns="judge", values="count", aggfunc="sum")
        counts = cells.reindex(index=list(CONFUSION_HUMAN), columns=list(CONFUSION_JUDGE))
        counts = counts.fillna(0).to_numpy(dtype=int)
        top = max(int(counts.max()), 1)
        ax.imshow(counts, cmap="Greys", vmin=0, vmax=top * 1.15, aspect="auto")
        for h in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(j, h, str(counts[h, j]), ha="center", va="center", fontsize=7.5,
                        color="white" if counts[h, j] > 0.6 * top else "black",
                        in_layout=False)
            ax.add_patch(Rectangle((h - 0.5, h - 0.5), 1, 1, fill=False, linewidth=1.4,
                                   edgecolor="black"))
        ax.axvline(3.5, color="black", linewidth=0.8)
        ax.set_xticks(range(len(CONFUSION_JUDGE)), ["N/A", "1", "2", "3", "fail"])
        ax.set_yticks(range(len(CONFUSION_HUMAN)), list(CONFUSION_HUMAN))
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(True)
        ax.set_title(f"{dimension_label(dimension)} (n={counts.sum()})", fontsize=8)
    fig.supxlabel(f"judge score ({variant})", fontsize=8.5)
    fig.supylabel("human score (consensus)", fontsize=8.5)
    return fig


@_styled
def bias_figure(
    mae: pd.DataFrame | None,
    ceiling: pd.DataFrame,
    *,
    variants: Sequence[str] | None = None,
    dimensions: Sequence[str] | None = None,
    level: float = 0.95,
) -> Figure:
    """Positivity bias per variant (left) and each variant's MAE against the human ceiling.

    Bias is the mean of judge minus human score: above 0 the judge is more
    lenient than the people. The human ceiling is the MAE between two human
    raters of the same notebook, drawn as a thick bar (thin and gray where
    the raters agree too little for it to be trusted). Without judgments only
    the ceiling is drawn.
    """
    judged = mae if mae is not None and not mae.empty else None
    has_judge = judged is not None
    dimensions = _dimensions(ceiling if judged is None else judged, dimensions)
    variants = list(variants or ([] if judged is None else dict.fromkeys(judged["variant"])))
    fig = _new_figure(0.36 * len(dimensions) + 1.3)
    if has_judge:
        bias_ax, mae_ax = fig.subplots(1, 2, sharey=True)
    else:
        bias_ax, mae_ax = None, fig.subplots()
    width = 0.6 / max(len(variants), 1)
    handles = []
    for v, name in enumerate(variants):
        offset = (v - (len(variants) - 1) / 2) * width
        style = _variant_style(v)
        for y, dimension in enumerate(dimensions):
            row = None if judged is None else _row(judged, variant=name, dimension=dimension)
            _interval(bias_ax, y + offset, _value(row, "bias"), _value(row, "bias_ci_low"),
                      _value(row, "bias_ci_high"), style)
            _interval(mae_ax, y + offset, _value(row, "mae"), math.nan, math.nan, style)
        handles.append(mae_ax.plot([], [], label=name, **style)[0])
    ceiling_style = {"marker": "|", "linestyle": "none", "zorder": 4}
    for y, dimension in enumerate(dimensions):
        row = _row(ceiling, dimension=dimension)
        value = _value(row, "human_mae")
        if not math.isnan(value):
            trusted = row is not None and row.get("status") == "ok"
            mae_ax.plot([value], [y], markersize=16, markeredgewidth=3 if trusted else 1,
                        color="black" if trusted else "0.5", **ceiling_style)
    bars = [mae_ax.plot([], [], markersize=10, markeredgewidth=3, color="black",
                        label="human ceiling", **ceiling_style)[0],
            mae_ax.plot([], [], markersize=10, markeredgewidth=1, color="0.5",
                        label="ceiling, raters disagree", **ceiling_style)[0]]
    _zero_based(mae_ax)
    mae_ax.set_xlabel("MAE (judge) and human-human MAE (bar)" if has_judge
                      else "human-human MAE")
    mae_ax.legend(handles=bars, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=1,
                  frameon=False, borderaxespad=0.2)
    if bias_ax is None:
        _dimension_axis(mae_ax, dimensions)
        return fig
    _dimension_axis(bias_ax, dimensions)
    mae_ax.tick_params(axis="y", left=False)
    bias_ax.axvline(0, color="0.3", linestyle="--", linewidth=0.9, zorder=1)
    bias_ax.set_xlabel(f"judge − human, with {_ci(level)} (> 0: lenient)")
    bias_ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0),
                   ncols=len(handles), frameon=False, borderaxespad=0.2)
    return fig


@_styled
def alignment_cost_figure(costs: pd.DataFrame, *, dimensions: Sequence[str] | None = None
                          ) -> Figure:
    """Seconds (and tokens, when recorded) of every alignment, per fold and dimension.

    One gray-scale table per measure: a row per variant and fold, a column
    per dimension, each cell annotated with its value.
    """
    measures = [m for m in ("seconds", "tokens") if m in costs and costs[m].notna().any()]
    if not measures:
        raise ValueError("the alignment audit records neither seconds nor tokens")
    dimensions = _dimensions(costs, dimensions)
    repeats = costs["repeat"] if "repeat" in costs else pd.Series(0, index=costs.index)
    row_keys = list(zip(costs["variant"], repeats, costs["fold"], strict=True))
    keys = list(dict.fromkeys(row_keys))
    fig = _new_figure(len(measures) * (0.28 * len(keys) + 1.3) + 0.3)
    axes = np.atleast_1d(fig.subplots(len(measures), 1, sharex=True))
    for ax, measure in zip(axes, measures, strict=True):
        grid = np.full((len(keys), len(dimensions)), np.nan)
        for key, dimension, value in zip(row_keys, costs["dimension"], costs[measure],
                                         strict=True):
            if dimension in dimensions:
                grid[keys.index(key), dimensions.index(dimension)] = value
        top = np.nanmax(grid) if np.isfinite(grid).any() else 1.0
        ax.imshow(np.nan_to_num(grid), cmap="Greys", vmin=0, vmax=top * 1.25, aspect="auto")
        for r in range(grid.shape[0]):
            for c in range(grid.shape[1]):
                value = grid[r, c]
                text = "–" if math.isnan(value) else (
                    f"{value:.0f}" if measure == "tokens" or value >= 10 else f"{value:.1f}")
                ax.text(c, r, text, ha="center", va="center", fontsize=7, in_layout=False,
                        color="white" if not math.isnan(value) and value > 0.6 * top else "black")
        ax.set_yticks(range(len(keys)), [f"{v} · fold {f}" + (f" · repeat {r}" if r else "")
                                         for v, r, f in keys])
        ax.tick_params(length=0)
        unit = "seconds" if measure == "seconds" else "tokens"
        total = np.nansum(grid)
        ax.set_title(f"Alignment {unit} per fold and dimension (total {total:,.0f})", loc="left")
    axes[-1].set_xticks(range(len(dimensions)), [dimension_label(d) for d in dimensions],
                        rotation=30, ha="right")
    return fig


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


@_styled
def comparison_figure(
    comparisons: Sequence[ArmComparison],
    *,
    tolerances: Mapping[str, float],
    verdicts: Mapping[tuple[str, str], str] | None = None,
) -> Figure:
    """Forest plot of each candidate's difference from the reference, per dimension.

    One panel per candidate: the judge-only difference (candidate - reference, mean
    score over cases) with its interval, hollow circle; the PPI++ difference of the
    human score, where experts graded a subset, filled square below it. The shaded band
    left of each row's dotted line is a drop larger than that dimension's tolerance (a
    regression if the gate is sure of it). ``verdicts`` maps (candidate, dimension) to
    the gate's word for the right margin; a judge-only estimate outside the PPI interval
    is marked there too.
    """
    candidates = list(dict.fromkeys(c.candidate for c in comparisons))
    present = {c.dimension for c in comparisons}
    dimensions = [d for d in DIMENSIONS if d in present]
    fig = _new_figure((0.36 * len(dimensions) + 0.9) * len(candidates) + 0.5)
    axes = np.atleast_1d(fig.subplots(len(candidates), 1, squeeze=False)).ravel()
    judge_style = dict(_variant_style(0), marker="o")
    ppi_style = dict(_variant_style(1), marker="s")
    any_ppi = any(c.ppi is not None for c in comparisons)
    for ax, candidate in zip(axes, candidates, strict=True):
        rows = {c.dimension: c for c in comparisons if c.candidate == candidate}
        offset = 0.16 if any_ppi else 0.0
        values: list[float] = [0.0]
        for y, dimension in enumerate(dimensions):
            record = rows.get(dimension)
            if record is None:
                continue
            _interval(ax, y - offset, _or_nan(record.difference), _or_nan(record.ci_low),
                      _or_nan(record.ci_high), judge_style)
            values += [_or_nan(record.ci_low), _or_nan(record.ci_high),
                       _or_nan(record.difference), -tolerances.get(dimension, 0.0)]
            if record.ppi is not None:
                ppi = record.ppi
                _interval(ax, y + offset, _or_nan(ppi.difference), _or_nan(ppi.ci_low),
                          _or_nan(ppi.ci_high), ppi_style)
                values += [_or_nan(ppi.ci_low), _or_nan(ppi.ci_high)]
            word = (verdicts or {}).get((candidate, dimension), "")
            if record.ppi is not None and record.ppi.judge_outside_ppi:
                word += ("\n" if word else "") + "judge outside PPI"
            if word:
                ax.annotate(word, xy=(1.0, y), xycoords=("axes fraction", "data"),
                            xytext=(4, 0), textcoords="offset points", va="center",
                            fontsize=7.5, fontweight="bold" if "regression" in word else None)
        finite = [v for v in values if not math.isnan(v)]
        span = max(finite) - min(finite) or 1.0
        low, high = min(finite) - 0.08 * span, max(finite) + 0.08 * span
        for y, dimension in enumerate(dimensions):
            if dimension in rows and dimension in tolerances:
                edge = -tolerances[dimension]
                ax.fill_betweenx([y - 0.5, y + 0.5], low, edge, color="0.86", linewidth=0,
                                 zorder=0.5)
                ax.vlines(edge, y - 0.45, y + 0.45, color="0.25", linestyle=":",
                          linewidth=1.0, zorder=1)
        ax.set_xlim(low, high)
        _dimension_axis(ax, dimensions)
        ax.axvline(0, color="0.3", linestyle="--", linewidth=0.9, zorder=1)
        reference = next(iter(rows.values())).reference
        ax.set_xlabel(f"{candidate} − {reference}: mean score difference (> 0: "
                      f"{candidate} scores higher)")
        handles = [ax.plot([], [], label="judge only", **judge_style)[0]]
        if any_ppi:
            handles.append(ax.plot([], [], label="PPI++ (human score)", **ppi_style)[0])
        handles.append(Rectangle((0, 0), 1, 1, color="0.86",
                                 label="worse than the tolerance"))
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0),
                  ncols=len(handles), frameon=False, borderaxespad=0.2)
    return fig


@dataclass(frozen=True)
class SavedFigure:
    """A figure written to disk: its files and the PNG as a data URI for the HTML."""

    name: str
    paths: tuple[Path, ...]
    data_uri: str


def save_figure(
    figure: Figure,
    folder: str | Path,
    name: str,
    *,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 170,
) -> SavedFigure:
    """Write ``name.<format>`` under ``folder`` for each of ``formats``, without timestamps.

    Returns the PNG as a base64 data URI too, for embedding (it is rendered
    even when ``formats`` has no ``png``). The same figure gives the same
    bytes on every run with the same matplotlib. The layout computed for the
    PNG is kept for the other formats (it is the slow part), so a figure is
    saved once.
    """
    unknown = sorted(set(formats) - {"png", "svg"})
    if unknown:
        raise ValueError(f"figure formats are png and svg; got {unknown}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    paths = []
    with matplotlib.rc_context(STYLE):
        figure.savefig(png, format="png", dpi=dpi, metadata={"Software": None})
        figure.set_layout_engine("none")
        if "png" in formats:
            paths.append(folder / f"{name}.png")
            paths[-1].write_bytes(png.getvalue())
        if "svg" in formats:
            paths.append(folder / f"{name}.svg")
            figure.savefig(paths[-1], format="svg", metadata={"Date": None, "Creator": None})
    uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    return SavedFigure(name=name, paths=tuple(paths), data_uri=uri)
