"""Balancing authorities: the EIA-930 codes a grid-factor row or a site may name.

The grid of a US site is named by its balancing authority's EIA code (``ERCO``, ``PJM``,
``CISO``, ...), the key Open Grid Emissions files and EIA-930 use (OGE's ``ba_code``).
The list is the balancing authorities that report to EIA (source ``EIA`` or ``EIA &
FERC``) in Open Grid Emissions' reference table
``src/oge/reference_tables/ba_reference.csv`` (singularity-energy/open-grid-emissions),
current ones and those retired since 2019 (their history still has hours); foreign
regions that only trade with US BAs (AESO, BCHA, CEN, HQT, IESO, MHEB, NBSO, SPC) are
not US grids and are not accepted. A code outside this table is an unknown balancing
authority (refused at ingest, naming file, line and field).
"""
from __future__ import annotations

#: code -> name (OGE ba_reference.csv, EIA-reporting balancing authorities)
BALANCING_AUTHORITIES: dict[str, str] = {
    "AEC": "PowerSouth Energy Cooperative (retired 2021-09-30)",
    "AECI": "Associated Electric Cooperative, Inc.",
    "AVA": "Avista Corporation",
    "AVRN": "Avangrid Renewables, LLC",
    "AZPS": "Arizona Public Service Company",
    "BANC": "Balancing Authority of Northern California",
    "BPAT": "Bonneville Power Administration",
    "CEA": "Chugash Electric Association",
    "CHPD": "Public Utility District No. 1 of Chelan County",
    "CISO": "California Independent System Operator",
    "CPLE": "Duke Energy Progress East",
    "CPLW": "Duke Energy Progress West",
    "DEAA": "Arlington Valley, LLC",
    "DOPD": "PUD No. 1 of Douglas County",
    "DUK": "Duke Energy Carolinas",
    "EEI": "Electric Energy, Inc. (retired 2021-05-06)",
    "EPE": "El Paso Electric Company",
    "ERCO": "Electric Reliability Council of Texas, Inc.",
    "FMPP": "Florida Municipal Power Pool",
    "FPC": "Duke Energy Florida, Inc.",
    "FPL": "Florida Power & Light Co.",
    "GCPD": "Public Utility District No. 2 of Grant County, Washington",
    "GLHB": "GridLiance (retired 2022-09-01)",
    "GRID": "Gridforce Energy Management, LLC",
    "GRIF": "Griffith Energy, LLC (retired 2023-11-01)",
    "GRIS": "Gridforce South",
    "GVL": "Gainesville Regional Utilities",
    "GWA": "NaturEner Power Watch, LLC",
    "HECO": "Hawaiian Electric Company",
    "HGMA": "New Harquahala Generating Company, LLC",
    "HST": "City of Homestead",
    "IID": "Imperial Irrigation District",
    "IPCO": "Idaho Power Company",
    "ISNE": "ISO New England",
    "JEA": "JEA",
    "LDWP": "Los Angeles Department of Water and Power",
    "LGEE": "Louisville Gas and Electric Company and Kentucky Utilities Company",
    "MISO": "Midcontinent Independent System Operator, Inc.",
    "NEVP": "Nevada Power Company",
    "NSB": "Utilities Commission of New Smyrna Beach (retired 2020-01-27)",
    "NWMT": "NorthWestern Corporation",
    "NYIS": "New York Independent System Operator",
    "OVEC": "Ohio Valley Electric Corporation (retired 2020-01-09)",
    "PACE": "PacifiCorp East",
    "PACW": "PacifiCorp West",
    "PGE": "Portland General Electric Company",
    "PJM": "PJM Interconnection, LLC",
    "PNM": "Public Service Company of New Mexico",
    "PSCO": "Public Service Company of Colorado",
    "PSEI": "Puget Sound Energy, Inc.",
    "SC": "South Carolina Public Service Authority",
    "SCEG": "South Carolina Electric & Gas Company",
    "SCL": "Seattle City Light",
    "SEC": "Seminole Electric Cooperative",
    "SEPA": "Southeastern Power Administration",
    "SOCO": "Southern Company Services, Inc. - Trans",
    "SPA": "Southwestern Power Administration",
    "SRP": "Salt River Project Agricultural Improvement and Power District",
    "SWPP": "Southwest Power Pool",
    "TAL": "City of Tallahassee",
    "TEC": "Tampa Electric Company",
    "TEPC": "Tucson Electric Power",
    "TIDC": "Turlock Irrigation District",
    "TPWR": "City of Tacoma, Department of Public Utilities, Light Division",
    "TVA": "Tennessee Valley Authority",
    "WACM": "Western Area Power Administration - Rocky Mountain Region",
    "WALC": "Western Area Power Administration - Desert Southwest Region",
    "WAUW": "Western Area Power Administration - Upper Great Plains West",
    "WWA": "NaturEner Wind Watch, LLC",
    "YAD": "Alcoa Power Generating, Inc. - Yadkin Division",
}


def is_balancing_authority(code: str) -> bool:
    return code in BALANCING_AUTHORITIES


__all__ = ["BALANCING_AUTHORITIES", "is_balancing_authority"]
