"""CAISO charge codes, one module each (CAISO Tariff §11.2.1 IFM settlements, §11.5
real-time imbalance energy; BPM for Settlements & Billing, the charge-code
configuration guides CC 6011, 6460, 6470, 6475).

Seen in the configuration guides (§2.1 Background of CC 6460, 6477, 64750): imbalance
energy is settled per Settlement Interval for each resource and consists of
instructed imbalance energy (IIE: FMM, CC 6460; RTD, CC 6470), uninstructed
imbalance energy (UIE, CC 6475) and unaccounted-for energy (UFE, CC 6474); the
residual goes to the Real Time Imbalance Energy Offset (CC 6477), pro rata to
Measured Demand. The §3.6 "CAISO Formula" sections themselves were **not** readable
in the corpus (searched again for the follow-up: the stored copies of the guides for CC
6460, 6475 and 6477 end before §3; the tariff's §11.5.2 is a table-of-contents entry):
the equations in these modules are the standard structure of
``shared/notes/domain.md`` §2 [R]. UFE and the offset are allocations across
Scheduling Coordinators and are not shadowed per resource.

The trading day is in Pacific Prevailing Time. Amounts: > 0 a charge to the
Scheduling Coordinator, < 0 a payment.
"""
