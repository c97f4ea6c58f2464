"""Evaluation: scorers, execution, statistics, reports and the gate."""
