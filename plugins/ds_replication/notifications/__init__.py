"""Notifiers: the alert mails of a run, as the smtp provider lays them out."""
