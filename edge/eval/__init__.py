"""Objective evaluation: PESQ-WB, STOI, SI-SDR and DNSMOS on a clean/noisy folder pair."""
from edge.eval.runner import METRICS, evaluate_dir, format_table

__all__ = ["METRICS", "evaluate_dir", "format_table"]
