"""Replication of Deployment Server jobs from a master to slave servers, keeping job history."""
