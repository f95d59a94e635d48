"""Operators of the replication DAG, one module per step."""
