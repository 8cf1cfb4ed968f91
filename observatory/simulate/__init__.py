"""Simulated agent societies with planted ground truth, written as interaction-log drops.

:func:`simulate` draws a Moltbook-like society and writes it in the interaction-log contract's format (the
observatory's embedded default data source), deterministic by seed, with what it planted beside it in
``truth.json`` and ``truth/*.parquet``:

* **Structural roles** among active agents (``truth/agent_roles.parquet``): hubs draw many replies, broadcasters
  post a lot and rarely comment, conversationalists comment a lot in reply chains and reply back, the periphery
  (most active agents) writes a few comments; most registered agents never post or comment. Activity within a
  role is heavy-tailed (lognormal multipliers), submolt popularity is Zipf, comments are threaded.
* **Cascades** of URLs, hashtags and submolt mentions that spread only along exposures, with sizes drawn exactly
  from a discrete power law (``truth/cascades.parquet``, ``truth/adoptions.parquet``,
  ``truth/candidates.parquet``).
* **Adoption hazards**: on the clock "time since first exposure" a candidate adopts with hazard
  ``lambda0 * HR ** k(t)``, ``k(t)`` its exposures so far; non-adopters are censored at the end of the window.
* **Cooperation**: task threads solved by one agent or several, with confounded assignment and a known effect of
  multi-agent work on the logit of success (``truth/task_outcomes.parquet``).
* **Bad records** of every kind the contract names, spliced into JSONL parts (``truth/bad_records.parquet``).

The modules:
:mod:`.config` holds what a run plants (``SimulationConfig``), :mod:`.run` puts a run together (``simulate``),
:mod:`.records` turns the society into each entity's records; the generators are :mod:`.society` (agents, posts,
background comments and votes), :mod:`.spread` (cascades of items along exposures), :mod:`.tasks` (cooperation
tasks) and :mod:`.text`; :mod:`.writer` writes the files and splices in bad records, :mod:`.responses` rewrites a
drop as raw API responses.
"""

from observatory import _lazy

_EXPORTS = {"SimulationConfig": "config", "SimulationResult": "config", "RoleProfile": "config",
            "DEFAULT_ROLES": "config", "load_truth": "config", "simulate": "run"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)


class _Package(type(_lazy)):
    """``observatory.simulate`` is this package and, called, the function: ``from observatory import simulate``
    gives the package once it has been imported, and ``simulate(out_dir, config)`` works either way."""

    def __call__(self, *args, **kwargs):
        from observatory.simulate.run import simulate

        return simulate(*args, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _Package
