"""Pluggable decision rules (qualification now; engagement, flanking and follow-up to come)."""
