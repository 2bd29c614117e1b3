"""PJM charge types (PJM Manual 28 "Operating Agreement Accounting" §3 spot market
energy, §5 transmission congestion, §6 transmission losses; Manual 11 §2 for the
LMP and its components; Operating Agreement Schedule 1 §3.2).

Billing line items: 1200 Day-ahead Spot Market Energy, 1205 Balancing Spot Market
Energy, 1210 Day-ahead Transmission Congestion, 1215 Balancing Transmission
Congestion, 1220 Day-ahead Transmission Losses, 1225 Balancing Transmission Losses.
(1205 is seen in the corpus; the other numbers are recalled.) Where the prices
carry their components, energy lines use the System Energy Price and congestion and
loss lines their own component ("Generating Market Buyers shall be paid for all
energy scheduled ... at the Day-ahead System Energy Price", OA Schedule 1 §3.2.1(c),
seen); without components one line at the total LMP under the energy item.

Real time settles on 5-minute intervals since the 2018-04-01 operating day (FERC
Order 825; PJM Inside Lines, seen) and hourly before, at the hourly integrated
price ("an average of five-minute prices for an hour", seen). The operating day is
in Eastern Prevailing Time: 276 / 288 / 300 five-minute intervals a day.
Amounts: > 0 a charge to the participant, < 0 a credit.
"""
