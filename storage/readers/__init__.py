"""Vendor and canonical file readers: each maps a format to the canonical meter/price/index tables."""
