"""What-if scenarios: variants of a base portfolio, each re-settled by the contract
engine that bills (``engine.settlement``, ``engine.terms``), never by a formula of
their own, and never touching a published invoice.

* :mod:`.document`: the scenario document, parsed (:func:`parse_scenario`), with its
  JSON Schema in :mod:`.schema` (:func:`scenario_schema`) and its sweep in :mod:`.sweep`;
* :mod:`.ops` and :mod:`.registry`: the transformations, one module per family:
  :mod:`.prices`, :mod:`.indices`, :mod:`.meter`, :mod:`.exports`, :mod:`.contracts`,
  :mod:`.battery` (re-dispatch with ``engine.dispatch``); exact integer arithmetic in
  :mod:`.exact`; a site's channels and energy balance in :mod:`.site`;
* :mod:`.apply`: a variant's contracts, market data and channels;
* :mod:`.references`: checks against what is stored, before any work;
* :mod:`.report`: the summary document and the offline HTML report.

The job that runs a scenario is ``jobs.scenario``.
"""
from __future__ import annotations

from .apply import extra_price_keys, variant_contracts, variant_market, variant_site
from .document import BASE, Base, Scenario, Transform, Variant, document_sha256, parse_scenario
from .ops import MarketContext
from .references import References, check_references
from .registry import OPS
from .report import VariantTotal, render_report, summary
from .schema import MAX_VARIANTS, scenario_schema
from .site import SiteHorizon, SiteMonth

__all__ = ["parse_scenario", "scenario_schema", "Scenario", "Base", "Variant", "Transform", "BASE",
           "document_sha256", "OPS", "MAX_VARIANTS", "MarketContext", "SiteHorizon", "SiteMonth",
           "variant_contracts", "variant_market", "variant_site", "extra_price_keys", "References",
           "check_references", "VariantTotal", "summary", "render_report"]
