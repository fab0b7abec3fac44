"""Pure money math: prices, tiers, invoice lines, currencies and billing periods.

A leaf package: it imports nothing of Tollway but :mod:`tollway.errors`, so engines, invoicing
and the portals all price the same way.
"""
