"""``m2c esg``: carbon reports, the factor set, granular certificates.

* ``report (--site ID | --contract ID) (--period YYYY-MM | --year YYYY) [--gwp AR4|AR5]
  [--format table|json|csv|html] [--out FILE]``: GHG Protocol Scope 1 and Scope 2
  (location- and market-based), energy by resource, intensities, the 24/7 CFE score beside
  volumetric matching, per month and per site, and the hourly CFE heat map (local hour of
  day x day, or x month for a year; the HTML is offline and printable). Computed as of the
  current data versions, which the report states (``jobs.carbon.esg_report``); an
  invoice's own annex is the one of its pinned versions.
* ``factors [--format table|json]``: the emission-factor document in use, every row with
  its citation, and the GWP sets (regulatory default named).
* ``certificates issue --site ID --period YYYY-MM``: granular certificates of the site's
  carbon-free generators from its actual meter data (``jobs.carbon.issue_certificates``);
  ``transfer --from ACCOUNT --to ACCOUNT``, ``cancel --account ACCOUNT --beneficiary ID``
  (certificate ids, or ``--site``/``--period`` for all of a site-month held by the
  account); ``list`` and ``export`` (EnergyTag GC Registry API v2 JSON).

With ``--api`` the report, the factors and the certificate list/export come from the
server (``GET /v1/esg/...``); issue, transfer and cancel write this store's certificate
log and are local-only.
"""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from ..settings import Settings
from .backend import is_remote, local_only
from .output import add_format, print_json, table

_WHY = "it writes the certificate log of the store it runs on"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("esg", help="carbon: ESG reports, emission factors, granular certificates")
    sub = p.add_subparsers(dest="esg_command", required=True)
    r = sub.add_parser("report", help="Scope 1 and 2, CFE score and heat map of a site or a contract")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--site", metavar="ID")
    who.add_argument("--contract", metavar="ID")
    span = r.add_mutually_exclusive_group(required=True)
    span.add_argument("--period", metavar="YYYY-MM")
    span.add_argument("--year", metavar="YYYY", type=int)
    r.add_argument("--gwp", choices=["AR4", "AR5"], default=None,
                   help="GWP set for CO2e (default: the factor set's regulatory default, AR5)")
    r.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the report to FILE")
    add_format(r, ("table", "json", "csv", "html"))
    r.set_defaults(handler=cmd_report)
    f = sub.add_parser("factors", help="the emission-factor document and GWP sets in use")
    add_format(f)
    f.set_defaults(handler=cmd_factors)
    c = sub.add_parser("certificates", help="granular certificates: issue, transfer, cancel, list, export")
    csub = c.add_subparsers(dest="certificates_command", required=True)
    i = csub.add_parser("issue", help="issue a site-month's certificates from its actual meter data")
    i.add_argument("--site", required=True, metavar="ID")
    i.add_argument("--period", required=True, metavar="YYYY-MM")
    add_format(i)
    i.set_defaults(handler=cmd_issue)
    for name, helptext, handler in (("transfer", "move certificates to another account", cmd_transfer),
                                    ("cancel", "cancel (claim) certificates for a beneficiary", cmd_cancel)):
        q = csub.add_parser(name, help=helptext)
        q.add_argument("ids", nargs="*", metavar="CERTIFICATE_ID")
        q.add_argument("--site", metavar="ID", help="with --period: every certificate of that site-month "
                                                     "the account holds")
        q.add_argument("--period", metavar="YYYY-MM")
        if name == "transfer":
            q.add_argument("--from", dest="from_account", required=True, metavar="ACCOUNT")
            q.add_argument("--to", dest="to_account", required=True, metavar="ACCOUNT")
        else:
            q.add_argument("--account", required=True, metavar="ACCOUNT")
            q.add_argument("--beneficiary", required=True, metavar="ID")
        add_format(q)
        q.set_defaults(handler=handler)
    for name, helptext, handler in (("list", "certificates and their states", cmd_list),
                                    ("export", "EnergyTag GC Registry API v2 JSON", cmd_export)):
        q = csub.add_parser(name, help=helptext)
        q.add_argument("--site", metavar="ID")
        q.add_argument("--account", metavar="ACCOUNT")
        q.add_argument("--as-of", type=int, default=None, metavar="VERSION",
                       help="the registry as of this version (default: the latest)")
        if name == "list":
            add_format(q)
            q.set_defaults(handler=handler)
        else:
            q.set_defaults(handler=handler, format="json")


def _store(settings: Settings):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(settings.storage_config())


def _remote(settings: Settings, path: str, params: dict):
    from ..client import ApiClient
    with ApiClient(settings.api_url, settings.api_key) as client:
        return client.esg(path, {k: v for k, v in params.items() if v is not None})


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from engine.carbon.report import render_csv, render_html, render_table
    params = {"period": args.period, "year": args.year, "gwp": args.gwp}
    if is_remote(settings):
        what = f"sites/{args.site}" if args.site else f"contracts/{args.contract}"
        doc = _remote(settings, what, params)
    else:
        from jobs.carbon import esg_report
        from storage.tables import Tables
        store = _store(settings)
        doc = esg_report(store, Tables(store), site=args.site, contract=args.contract, **params)
    text = {"json": None, "csv": render_csv, "html": render_html, "table": render_table}[args.format]
    if args.out is not None:
        import json
        args.out.write_text(text(doc) if text else json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.out}")
    elif text is None:
        print_json(doc)
    else:
        print(text(doc), end="")
    return 0


def cmd_factors(args: argparse.Namespace, settings: Settings) -> int:
    if is_remote(settings):
        doc = _remote(settings, "factors", {})
    else:
        from engine.carbon.factors import factor_set
        fs = factor_set()
        doc = {"ref": fs.ref, "sha256": fs.sha256, **fs.document}
    if args.format == "json":
        print_json(doc)
        return 0
    print(f"{doc['ref']} (sha256 {doc['sha256'][:16]}): {doc['title']}")
    print(f"default GWP: {doc['default_gwp']}. {doc['default_gwp_note']}\n")
    print(table([["fuel", "gas", "kg/MMBtu", "source"],
                 *[[r["fuel"], r["gas"], r["kg_per_mmbtu"], r["source"]] for r in doc["factors"]]]))
    print()
    print(table([["GWP set", "CO2", "CH4", "N2O", "source"],
                 *[[k, g["CO2"], g["CH4"], g["N2O"], g["source"]] for k, g in sorted(doc["gwp_sets"].items())]]))
    return 0


def _now() -> datetime:
    return datetime.now(timezone.utc)


@local_only("esg certificates issue", _WHY)
def cmd_issue(args: argparse.Namespace, settings: Settings) -> int:
    from jobs.carbon import issue_certificates
    from storage.tables import Tables
    store = _store(settings)
    out = issue_certificates(store, Tables(store), args.site, args.period, now_utc=_now())
    if args.format == "json":
        print_json(out)
    else:
        what = "issued" if out["created"] else "already issued (nothing written)"
        print(f"{args.site} {args.period}: {out['certificates']} certificates, {out['energy_wh']:,} Wh, "
              f"{what}; certificate registry version {out['registry_version']}")
    return 0


def _selected(args: argparse.Namespace, store, account: str) -> list[str]:
    from engine.errors import InputError
    ids = list(args.ids)
    if args.site or args.period:
        if not (args.site and args.period):
            raise InputError("give --site and --period together")
        from engine.timebase import local_month_bounds_us
        from storage.certificates import CertificateRegistry
        from storage.sites import load_sites
        sites = load_sites(store)
        if args.site not in sites:
            raise InputError(f"unknown site {args.site!r}")
        b0, b1 = local_month_bounds_us(args.period, sites[args.site].timezone)
        st = CertificateRegistry(store).state()
        ids += [cid for cid, c in sorted(st.certificates.items())
                if c.attrs["site_id"] == args.site and c.owner == account and c.state != "cancelled"
                and b0 <= c.hour_us < b1]
    if not ids:
        raise InputError("no certificate selected: give ids, or --site and --period")
    return ids


@local_only("esg certificates transfer", _WHY)
def cmd_transfer(args: argparse.Namespace, settings: Settings) -> int:
    from storage.certificates import CertificateRegistry
    store = _store(settings)
    ids = _selected(args, store, args.from_account)
    seq = CertificateRegistry(store).transfer(ids, from_account=args.from_account, to_account=args.to_account,
                                              at_utc=_now())
    return _done(args, "transferred", ids, seq)


@local_only("esg certificates cancel", _WHY)
def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    from storage.certificates import CertificateRegistry
    from storage.sites import load_sites
    store = _store(settings)
    ids = _selected(args, store, args.account)
    beneficiary = load_sites(store).get(args.beneficiary)
    ba = beneficiary.balancing_authority if beneficiary is not None else None
    seq = CertificateRegistry(store).cancel(ids, account=args.account, beneficiary=args.beneficiary,
                                            at_utc=_now(), beneficiary_ba=ba)
    return _done(args, "cancelled", ids, seq)


def _done(args: argparse.Namespace, what: str, ids: list[str], seq: int) -> int:
    if args.format == "json":
        print_json({"action": what, "certificates": ids, "registry_version": seq})
    else:
        print(f"{what} {len(ids)} certificate(s); certificate registry version {seq}")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> dict:
    if is_remote(settings):
        if not args.site:
            from engine.errors import InputError
            raise InputError("with --api, name the site: --site ID (GET /v1/esg/sites/{site}/certificates)")
        return _remote(settings, f"sites/{args.site}/certificates", {"account": args.account,
                                                                      "as_of": args.as_of})
    from storage.certificates import CertificateRegistry
    reg = CertificateRegistry(_store(settings))
    return CertificateRegistry.export(reg.state(args.as_of), site_id=args.site, account=args.account)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    print_json(_export(args, settings))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    doc = _export(args, settings)
    if args.format == "json":
        print_json(doc)
        return 0
    rows = [[b["meter2cash_certificate_id"], b["meter2cash_state"], b["account_id"], b["beneficiary"] or "",
             f"{b['bundle_quantity']:,}"] for b in doc["granular_certificate_bundles"]]
    print(table([["certificate", "state", "account", "beneficiary", "Wh"], *rows], right={4}))
    print(f"{len(rows)} certificate(s), {doc['total_certificate_volume']:,} Wh; "
          f"registry version {doc['registry_version']}")
    return 0
