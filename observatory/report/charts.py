"""The report's charts, drawn with matplotlib from the result tables, as inline SVG (report) or PNG (Dagster UI).

Every function takes an open DuckDB connection and returns a matplotlib Figure, or None when the table it needs
is absent. Labels may carry agent-written text (submolt names): `_text` escapes the `$` that would start
matplotlib's mathtext, and the SVG writer escapes the rest.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from observatory import db  # noqa: E402

STYLE = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
}
BLUE, ORANGE, GREY, RED = "#1f77b4", "#ff7f0e", "#7f7f7f", "#d62728"


def to_svg(fig) -> str:
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue and DOCTYPE: the SVG is inlined in HTML


def to_png_base64(fig, dpi: int = 80) -> str:
    buffer = io.BytesIO()
    with plt.rc_context(STYLE):
        fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _text(value) -> str:
    """Agent-written text as a matplotlib label: printed as it is, never parsed as mathtext."""
    return str(value).replace("$", r"\$")


def _figure(width=6.0, height=3.4, ncols=1):
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), layout="constrained")
    return fig, axes


def _rows(con, table: str, query: str):
    """The rows ``query`` gives as a DataFrame, or None when ``table`` is absent or the query gives no row."""
    if not db.table_exists(con, table):
        return None
    t = con.execute(query).df()
    return None if t.empty else t


def _spans(centre, lower, upper):
    """Error-bar lengths below and above a point, never negative (rounding can put a bound a hair inside)."""
    centre, lower, upper = (np.asarray(v, dtype=float) for v in (centre, lower, upper))
    return [np.clip(centre - lower, 0, None), np.clip(upper - centre, 0, None)]


def _ccdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.sort(values[values > 0])
    unique, first = np.unique(values, return_index=True)
    return unique, 1.0 - first / len(values)


# ---------------------------------------------------------------------------------------------------- population


def activity_ccdf(con):
    if not db.table_exists(con, "agent_activity"):
        return None
    data = con.execute("SELECT posts, comments FROM agent_activity WHERE active").fetchnumpy()
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        for column, colour in (("comments", BLUE), ("posts", ORANGE)):
            x, y = _ccdf(np.asarray(data[column], dtype=float))
            if len(x):
                ax.loglog(x, y, marker=".", linestyle="none", markersize=3, color=colour, label=column)
        ax.set_xlabel("per active agent")
        ax.set_ylabel("share of active agents with at least x")
        ax.set_title("Activity is heavy-tailed")
        ax.legend(frameon=False)
    return fig


def active_split(con):
    if not db.table_exists(con, "agent_activity"):
        return None
    registered, active = con.execute(
        "SELECT count(*) FILTER (WHERE registered), count(*) FILTER (WHERE active AND registered) FROM agent_activity"
    ).fetchone()
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=1.6)
        ax.barh([0], [active], color=BLUE, label=f"active ({active:,})")
        ax.barh([0], [registered - active], left=[active], color=GREY, label=f"inactive ({registered - active:,})")
        ax.set_yticks([])
        ax.set_xlabel("registered agents")
        ax.legend(frameon=False, ncols=2, loc="upper center", bbox_to_anchor=(0.5, 1.5))
    return fig


# ---------------------------------------------------------------------------------------------------------- roles


def k_selection(con):
    if not db.table_exists(con, "role_k_selection"):
        return None
    t = con.execute("SELECT * FROM role_k_selection ORDER BY k").df()
    with plt.rc_context(STYLE):
        fig, (left, right) = _figure(width=7.5, ncols=2)
        left.errorbar(t["k"], t["silhouette"], yerr=1.96 * t["silhouette_sd"], marker="o", color=BLUE,
                      label="silhouette (sampled, 95% band)", capsize=2)
        left.plot(t["k"], t["stability_ari"], marker="s", color=ORANGE, label="stability (ARI across seeds)")
        for _, row in t.iterrows():
            if row["degenerate"]:
                left.annotate("degenerate", (row["k"], row["silhouette"]), fontsize=7, color=RED,
                              xytext=(0, 6), textcoords="offset points", ha="center")
        chosen = t[t["chosen"]]
        left.scatter(chosen["k"], chosen["silhouette"], s=120, facecolors="none", edgecolors=RED, label="chosen k")
        left.set_xlabel("k")
        left.set_ylim(0, 1.05)
        left.legend(frameon=False, fontsize=7)
        left.set_title("Silhouette and stability against k")
        right.plot(t["k"], t["bic"], marker="o", color=GREY)
        right.set_xlabel("k")
        right.set_ylabel("Gaussian mixture BIC (lower is better)")
        right.set_title("Second criterion")
    return fig


def role_sizes(con):
    if not db.table_exists(con, "role_profiles"):
        return None
    t = con.execute("SELECT role, agents FROM role_profiles ORDER BY agents DESC").df()
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=2.4)
        ax.barh(t["role"], t["agents"], color=BLUE)
        ax.set_xscale("log")
        ax.invert_yaxis()
        for i, n in enumerate(t["agents"]):
            ax.text(n, i, f" {n:,}", va="center", fontsize=8)
        ax.set_xlabel("active agents (log scale)")
        ax.set_title("Cluster sizes")
    return fig


def role_heatmap(con):
    if not db.table_exists(con, "role_profiles"):
        return None
    t = con.execute("SELECT * FROM role_profiles ORDER BY agents DESC").df()
    features = [c[: -len("_median")] for c in t.columns if c.endswith("_median")]
    # Each feature's median per role, as a z-score across roles of log1p values: comparable colours.
    values = np.log1p(np.clip(t[[f"{f}_median" for f in features]].to_numpy(dtype=float), 0, None))
    spread = values.std(axis=0)
    z = (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1)
    with plt.rc_context(STYLE):
        fig, ax = _figure(width=7.5, height=max(2.4, 0.8 + 0.45 * len(t)))
        image = ax.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-2, vmax=2)
        ax.set_yticks(range(len(t)), [_text(r) for r in t["role"]])
        ax.set_xticks(range(len(features)), features, rotation=45, ha="right")
        fig.colorbar(image, ax=ax, label="z across roles (median, log1p)")
        ax.set_title("Role profiles")
    return fig


def core_periphery(con):
    if not db.table_exists(con, "agent_roles"):
        return None
    t = con.execute("SELECT role, core_periphery_score FROM agent_roles WHERE active").df()
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=2.6)
        bins = np.linspace(0, 1, 41)
        for role, group in t.groupby("role"):
            ax.hist(group["core_periphery_score"], bins=bins, alpha=0.6, label=str(role), log=True)
        ax.set_xlabel("core-periphery score (k-core index / largest)")
        ax.set_ylabel("active agents (log)")
        ax.legend(frameon=False, fontsize=7)
        ax.set_title("Core and periphery")
    return fig


# ------------------------------------------------------------------------------------------------------- cascades


def cascade_ccdf(con):
    if not db.table_exists(con, "cascade_ccdf"):
        return None
    t = con.execute("SELECT * FROM cascade_ccdf ORDER BY x").df()
    alpha, xmin = con.execute("SELECT alpha, xmin FROM cascade_powerlaw").fetchone()
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=3.8)
        ax.loglog(t["x"], t["data"], marker="o", linestyle="none", markersize=3, color="black", label="cascades")
        fitted = [c for c in t.columns if c not in ("x", "data")]
        for column in fitted:
            style = {"color": RED, "linewidth": 2} if column == "power_law" else {"linewidth": 1, "linestyle": "--"}
            label = f"power law (alpha {alpha:.2f}, xmin {xmin:g})" if column == "power_law" else column.replace("_", " ")
            ax.loglog(t["x"], t[column], label=label, **style)
        # Below 1/n_tail the data have nothing to show: the axis stops there.
        ax.set_ylim(bottom=0.5 / max(len(t), 1) if t.empty else 0.8 * float(t["data"].min()), top=1.2)
        ax.set_xlabel("cascade size (adopters)")
        ax.set_ylabel("P(size >= x | size >= xmin)")
        ax.legend(frameon=False, fontsize=7)
        ax.set_title("Cascade sizes and the fitted distributions")
    return fig


# ------------------------------------------------------------------------------------------------------- adoption


def exposure_curve(con):
    t = _rows(con, "exposure_curve", "SELECT * FROM exposure_curve WHERE n_at_risk > 0 ORDER BY k")
    if t is None:
        return None
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        lower, upper = _spans(t["probability"], t["ci_lower"], t["ci_upper"])
        ax.errorbar(t["k"], t["probability"], yerr=[lower, upper], marker="o", capsize=3, color=BLUE)
        ax.set_xlabel("k (exposures so far)")
        ax.set_ylabel("P(adopt at the k-th exposure | reached k)")
        ax.set_title("Exposure curve (Wilson 95% intervals)")
        ax.set_ylim(bottom=0)
    return fig


def _forest(estimate, lower, upper, labels, *, null: float, xlabel: str, title: str, row_height: float = 0.4,
            log: bool = False):
    """Estimates with their intervals, one row each, against a dotted line at the null value."""
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=0.6 + row_height * len(labels))
        y = np.arange(len(labels))
        ax.errorbar(estimate, y, xerr=_spans(estimate, lower, upper), fmt="o", capsize=3, color=BLUE)
        ax.axvline(null, color=GREY, linestyle=":")
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
    return fig


def hazard_forest(con):
    t = _rows(con, "adoption_cox", "SELECT * FROM adoption_cox ORDER BY model, term")
    if t is None:
        return None
    labels = [f"{m}: {term}" for m, term in zip(t["model"], t["term"])]
    return _forest(t["hazard_ratio"], t["ci_lower"], t["ci_upper"], labels, null=1.0, row_height=0.32, log=True,
                   xlabel="hazard ratio (95% CI, SEs clustered by agent; log scale)", title="Cox models of adoption")


def injection_hazards(con):
    """The hazard ratio per exposure for injection items beside ordinary items, with and without the accounts
    flagged as coordinated."""
    t = _rows(con, "injection_hazards",
              "SELECT * FROM injection_hazards WHERE hazard_ratio IS NOT NULL AND NOT isnan(hazard_ratio) "
              "ORDER BY items_group DESC, accounts")
    if t is None:
        return None
    labels = [f"{g} items, {a}" for g, a in zip(t["items_group"], t["accounts"])]
    return _forest(t["hazard_ratio"], t["ci_lower"], t["ci_upper"], labels, null=1.0, log=True,
                   xlabel="hazard ratio per additional exposure (95% CI, log scale)",
                   title="Adopting an injection against an ordinary item")


# ---------------------------------------------------------------------------------------------------- cooperation


def success_rates(con):
    if not db.table_exists(con, "cooperation_success_rates"):
        return None
    t = con.execute("SELECT * FROM cooperation_success_rates").df()
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=2.6)
        labels = [f"{s}: {'multi-agent' if g == 'treated' else 'single-agent'} (n={n:,})"
                  for s, g, n in zip(t["sample"], t["group"], t["n"])]
        y = np.arange(len(t))
        ax.errorbar(t["rate"], y, xerr=_spans(t["rate"], t["ci_lower"], t["ci_upper"]), fmt="o", capsize=3,
                    color=BLUE)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("success rate (Wilson 95% interval)")
        ax.set_title("Task success, all threads and matched pairs")
    return fig


def love_plot(con):
    t = _rows(con, "cooperation_balance", "SELECT covariate, smd_before, smd_after FROM cooperation_balance")
    if t is None:
        return None
    t = t.iloc[np.argsort(-t["smd_before"].abs().to_numpy())]
    with plt.rc_context(STYLE):
        fig, ax = _figure(height=0.6 + 0.25 * len(t))
        y = np.arange(len(t))
        ax.scatter(t["smd_before"].abs(), y, color=GREY, label="before matching")
        ax.scatter(t["smd_after"].abs(), y, color=BLUE, label="after matching")
        ax.axvline(0.1, color=RED, linestyle=":", label="0.1")
        ax.set_yticks(y, [_text(c) for c in t["covariate"]])
        ax.invert_yaxis()
        ax.set_xlabel("|standardised mean difference|")
        ax.legend(frameon=False, fontsize=7)
        ax.set_title("Covariate balance (love plot)")
    return fig


def effects_forest(con):
    t = _rows(
        con, "cooperation_outcomes",
        "SELECT quantity, estimate, ci_lower, ci_upper FROM cooperation_outcomes "
        "WHERE quantity IN ('success_rate_difference_naive', 'success_rate_difference_matched', "
        "'quality_difference_naive', 'quality_difference_matched') AND ci_lower IS NOT NULL"
    )
    if t is None:
        return None
    return _forest(t["estimate"], t["ci_lower"], t["ci_upper"], [q.replace("_", " ") for q in t["quantity"]],
                   null=0.0, xlabel="multi-agent minus single-agent (95% CI)", title="Naive and matched effects")


def propensity_overlap(con):
    if not db.table_exists(con, "cooperation_overlap"):
        return None
    t = con.execute("SELECT bin_lower, bin_upper, treated, control FROM cooperation_overlap ORDER BY bin_lower").df()
    if t.empty or (t["treated"].sum() == 0 and t["control"].sum() == 0):
        return None
    with plt.rc_context(STYLE):
        fig, ax = _figure()
        width = (t["bin_upper"] - t["bin_lower"]).to_numpy()
        left = t["bin_lower"].to_numpy()
        for column, colour, label, sign in (("treated", BLUE, "multi-agent (treated)", 1),
                                            ("control", GREY, "single-agent (control)", -1)):
            share = t[column].to_numpy() / max(int(t[column].sum()), 1)
            ax.bar(left, sign * share, width=width, align="edge", color=colour, label=label)
        for bound in (0.1, 0.9):
            ax.axvline(bound, color=RED, linestyle=":")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlabel("propensity score (dotted: the [0.1, 0.9] trimming bounds)")
        ax.set_ylabel("share of group (controls below)")
        ax.legend(frameon=False, fontsize=7)
        ax.set_title("Propensity overlap before matching")
    return fig


def design_forest(con):
    t = _rows(con, "cooperation_designs", "SELECT design, estimate, ci_lower, ci_upper FROM cooperation_designs "
                                          "WHERE ci_lower IS NOT NULL AND ci_upper IS NOT NULL")
    if t is None:
        return None
    return _forest(t["estimate"], t["ci_lower"], t["ci_upper"], [_text(d) for d in t["design"]], null=0.0,
                   xlabel="matched difference under each design (95% CI)", title="Design sensitivity")


# ---------------------------------------------------------------------------------------------------- trends


def headline_trends(con):
    """Each headline quantity per window with its 95% band; a window after a flagged shift is marked."""
    t = _rows(
        con, "headline_trends",
        """SELECT t.quantity, t."window", t.window_start, t.estimate, t.ci_lower, t.ci_upper,
                  coalesce(s.flagged, false) AS flagged
           FROM headline_trends AS t
           LEFT JOIN headline_shifts AS s ON s.quantity = t.quantity AND s.window_after = t."window"
           ORDER BY t.quantity, t."window" """)
    if t is None:
        return None
    quantities = list(dict.fromkeys(t["quantity"]))
    ncols = 2
    nrows = (len(quantities) + ncols - 1) // ncols
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(7.0, 1.9 * nrows), squeeze=False)
        for ax, quantity in zip(axes.flat, quantities):
            q = t[t["quantity"] == quantity]
            x = q["window"].to_numpy()
            ax.fill_between(x, q["ci_lower"], q["ci_upper"], color=BLUE, alpha=0.18, linewidth=0)
            ax.plot(x, q["estimate"], marker="o", color=BLUE)
            shifted = q[q["flagged"]]
            ax.scatter(shifted["window"], shifted["estimate"], s=90, facecolors="none", edgecolors=RED, zorder=3,
                       label="shift")
            ax.set_title(_text(quantity), fontsize=8)
            ax.set_xticks(x)
            if quantity == "adoption.hazard_ratio":
                ax.axhline(1.0, color=GREY, linestyle=":")
        for ax in list(axes.flat)[len(quantities):]:
            ax.axis("off")
        for ax in axes[-1]:
            ax.set_xlabel("window")
        fig.suptitle("Headlines per window (95% bands; circled: after a flagged shift)", fontsize=9)
        fig.tight_layout()
    return fig


CHARTS = {
    "activity_ccdf": activity_ccdf,
    "active_split": active_split,
    "k_selection": k_selection,
    "role_sizes": role_sizes,
    "role_heatmap": role_heatmap,
    "core_periphery": core_periphery,
    "cascade_ccdf": cascade_ccdf,
    "exposure_curve": exposure_curve,
    "hazard_forest": hazard_forest,
    "success_rates": success_rates,
    "love_plot": love_plot,
    "effects_forest": effects_forest,
    "propensity_overlap": propensity_overlap,
    "design_forest": design_forest,
    "headline_trends": headline_trends,
    "injection_hazards": injection_hazards,
}


def markdown_image(con, name: str, dpi: int = 70) -> str | None:
    """A chart as a Markdown image with an inline PNG, for metadata panels (the Dagster UI); None if not drawable."""
    fig = CHARTS[name](con)
    if fig is None:
        return None
    return f"![{name}](data:image/png;base64,{to_png_base64(fig, dpi=dpi)})"
