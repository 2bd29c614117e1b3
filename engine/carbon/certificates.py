"""Granular certificates (GCs): issuance from hourly production, states, EnergyTag v2 export.

Rules (EnergyTag Granular Certificate Scheme Standard v2, March 2024, as summarised in
``shared/notes/domain.md`` section 5 and ``capabilities.md`` section 4; the field meanings
from EnergyTag's reference registry, Future-Energy-Associates/granular_certificate_registry,
``gc_registry/certificate/schemas.py``):

* one certificate per carbon-free generator (a ``carbon_free`` channel,
  ``engine.carbon.classify``) per UTC hour of production (a production interval of at
  most one hour);
* base unit Wh; the **face value is the hour's production rounded down to a whole Wh**
  ("rounded down to the nearest Wh"). The remainder below 1 Wh is carried to the same
  generator's next hour, and from one issuance to the next (``carry_uwh``), as M-RETS
  carries fractional remainders to the next issuance ("Any fractional remainders ...
  will not issue Certificates but will roll over to the next month", M-RETS Operating
  Procedures 4.4). EnergyTag's own text on the remainder was not read here: the carry is
  M-RETS' rule applied hour to hour, stated, not assumed from EnergyTag. Meter data are
  whole Wh, so the carry is 0 unless production comes finer (this function takes uWh);
  a 1.2345678 MWh hour issues a certificate of 1,234,567 Wh and carries 0.8 Wh (tested);
* states: ``issued`` (in the producer's account) -> ``transferred`` (held by another
  account) -> ``cancelled`` (claimed for a beneficiary; terminal). A certificate is
  cancelled once and only once (``storage.certificates``: a serial log of create-only
  entries). Whole certificates move; no partial splits.

Export (:func:`energytag_bundle`) follows the GC Bundle shape of EnergyTag's GC Registry
API v2 reference (``GranularCertificateBundle``): each certificate is one bundle of
``bundle_quantity`` certificates of ``face_value`` 1 Wh, with ids
``certificate_bundle_id_range_start .. _end`` numbered per device in issuance order,
``issuance_id`` = ``<device_id>-<production_starting_interval>`` (the reference's
``create_issuance_id``), status ``Active`` (issued, transferred) or ``Cancelled``. Device and
account ids are meter2cash's names (the reference uses integers); ``expiry_datestamp`` is
null (domain-specific, not set by meter2cash); ``issuing_body`` says the certificates are
meter2cash's own records, not a registry's.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from ..canonical import canonical_json
from ..timebase import US_PER_HOUR, from_us, to_us
from .units import UWH_PER_WH

STATES = ("issued", "transferred", "cancelled")
#: EnergyTag v2 ``certificate_bundle_status`` of each state
ENERGYTAG_STATUS = {"issued": "Active", "transferred": "Active", "cancelled": "Cancelled"}


def hour_iso(hour_us: int) -> str:
    return from_us(int(hour_us)).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_id(site_id: str, channel: str, hour_us: int) -> str:
    """``<site>/<channel>/<production hour start, UTC>``: one per generator-hour."""
    return f"{site_id}/{channel}/{hour_iso(hour_us)}"


def issue_hourly(hours_us: Sequence[int], energy_uwh: Sequence[int], carry_uwh: int = 0
                 ) -> tuple[list[tuple[int, int]], int]:
    """Face values (Wh) of one generator's hours: ``[(hour_us, face_wh)]`` for the hours
    that issue (face >= 1 Wh), and the remainder (uWh) carried out."""
    if carry_uwh < 0 or carry_uwh >= UWH_PER_WH:
        raise ValueError(f"carry must be in [0, 1 Wh), got {carry_uwh} uWh")
    out = []
    carry = int(carry_uwh)
    for h, e in zip(hours_us, energy_uwh):
        if e < 0:
            raise ValueError(f"negative production at {hour_iso(int(h))}")
        face, carry = divmod(int(e) + carry, UWH_PER_WH)
        if face:
            out.append((int(h), face))
    return out, carry


def bundle_hash(attributes: dict) -> str:
    """SHA-256 of a certificate's immutable attributes (canonical JSON), as the
    reference registry hashes a bundle's non-mutable fields."""
    return hashlib.sha256(canonical_json(attributes)).hexdigest()


def energytag_bundle(cert: dict, *, state: str, account: str, beneficiary: str | None,
                     range_start: int) -> dict:
    """One certificate as an EnergyTag GC Registry API v2 ``GranularCertificateBundle``.

    ``cert``: the issued attributes (``storage.certificates``: ``certificate_id``,
    ``site_id``, ``channel``, ``energy_source``, ``balancing_authority``, ``hour_utc``,
    ``face_wh``, ``nameplate_w``)."""
    start = cert["hour_utc"]
    hour_us = to_us(datetime.fromisoformat(start.replace("Z", "+00:00")))
    device = f"{cert['site_id']}/{cert['channel']}"
    immutable = {k: cert[k] for k in sorted(cert)}
    return {
        "issuance_id": f"{device}-{start}",
        "hash": bundle_hash(immutable),
        "certificate_bundle_status": ENERGYTAG_STATUS[state],
        "account_id": account,
        "beneficiary": beneficiary,
        "certificate_bundle_id_range_start": range_start,
        "certificate_bundle_id_range_end": range_start + cert["face_wh"] - 1,
        "bundle_quantity": cert["face_wh"],
        "face_value": 1,
        "energy_carrier": "Electricity",
        "energy_source": cert["energy_source"],
        "issuance_post_energy_carrier_conversion": False,
        "registry_configuration": 1,
        "device_id": device,
        "device_capacity": cert.get("nameplate_w"),
        "production_starting_interval": start,
        "production_ending_interval": hour_iso(hour_us + US_PER_HOUR),
        "expiry_datestamp": None,
        "is_storage": False,
        "emissions_factor_production_device": 0,
        "emissions_factor_source": "carbon-free generation (meter2cash engine.carbon.classify)",
        "country_of_issuance": "US",
        "connected_grid_identification": cert["balancing_authority"],
        "issue_market_zone": cert["balancing_authority"],
        "issuing_body": "meter2cash (self-issued records, not a registry)",
        "meter2cash_certificate_id": cert["certificate_id"],
        "meter2cash_state": state,
    }


__all__ = ["STATES", "ENERGYTAG_STATUS", "hour_iso", "certificate_id", "issue_hourly", "bundle_hash",
           "energytag_bundle"]
